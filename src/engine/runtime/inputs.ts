import type { InputDefinition } from '../dsl/types';

export interface InputProblem {
  field: string;
  message: string;
}

const MAX_INPUT_BYTES = 256 * 1024;

function coerceOne(def: InputDefinition, value: unknown): { ok: true; value: unknown } | { ok: false; message: string } {
  switch (def.type) {
    case 'string':
      if (typeof value === 'string') return { ok: true, value };
      if (typeof value === 'number' || typeof value === 'boolean') return { ok: true, value: String(value) };
      return { ok: false, message: 'must be a string' };
    case 'number': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
      return Number.isFinite(n) ? { ok: true, value: n } : { ok: false, message: 'must be a number' };
    }
    case 'integer': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : NaN;
      return Number.isSafeInteger(n) ? { ok: true, value: n } : { ok: false, message: 'must be an integer' };
    }
    case 'boolean':
      if (typeof value === 'boolean') return { ok: true, value };
      if (value === 'true' || value === 'false') return { ok: true, value: value === 'true' };
      return { ok: false, message: "must be a boolean (true or false)" };
    case 'datetime': {
      if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) {
        return { ok: false, message: 'must be an ISO-8601 date-time string (e.g. 2026-01-31T12:00:00Z)' };
      }
      const ms = Date.parse(value);
      return Number.isNaN(ms) ? { ok: false, message: 'is not a valid date-time' } : { ok: true, value: new Date(ms).toISOString() };
    }
    case 'json':
      if (typeof value === 'string') {
        // CLI `--input k=v` passes text: accept JSON text for json inputs
        try {
          return { ok: true, value: JSON.parse(value) };
        } catch {
          return { ok: true, value };
        }
      }
      return { ok: true, value };
  }
}

/**
 * Validates and coerces trigger inputs against the workflow's declared inputs: defaults fill
 * missing values, text is converted where unambiguous ("42" → 42 for integer), unknown inputs
 * are rejected. Returns one problem per input.
 */
export function coerceInputs(
  definitions: readonly InputDefinition[],
  given: Record<string, unknown> | undefined,
): { ok: true; inputs: Record<string, unknown> } | { ok: false; problems: InputProblem[] } {
  const provided = given ?? {};
  const problems: InputProblem[] = [];
  const inputs: Record<string, unknown> = {};
  const known = new Set(definitions.map((d) => d.id));
  for (const name of Object.keys(provided)) {
    if (!known.has(name)) problems.push({ field: `inputs.${name}`, message: `unknown input; this workflow declares: ${[...known].join(', ') || 'no inputs'}` });
  }
  for (const def of definitions) {
    const present = Object.prototype.hasOwnProperty.call(provided, def.id) && provided[def.id] !== null && provided[def.id] !== undefined;
    if (!present) {
      if ('default' in def && def.default !== undefined) inputs[def.id] = def.default;
      else if (def.required) problems.push({ field: `inputs.${def.id}`, message: 'is required' });
      else inputs[def.id] = null;
      continue;
    }
    const result = coerceOne(def, provided[def.id]);
    if (result.ok) inputs[def.id] = result.value;
    else problems.push({ field: `inputs.${def.id}`, message: `${result.message} (type ${def.type})` });
  }
  if (problems.length === 0 && JSON.stringify(inputs).length > MAX_INPUT_BYTES) {
    problems.push({ field: 'inputs', message: `inputs are larger than ${MAX_INPUT_BYTES} bytes` });
  }
  return problems.length ? { ok: false, problems } : { ok: true, inputs };
}

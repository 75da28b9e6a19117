import type { InputDefinition, InputType } from '../dsl/types';
import { parseZonedDateTime, ZONED_DATE_TIME_HINT } from '../dsl/datetime';
import { compileJsonSchema, describeSchemaError } from '../dsl/json-schema';

export interface InputProblem {
  field: string;
  message: string;
}

const MAX_INPUT_BYTES = 256 * 1024;
const DECIMAL_NUMBER = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;

/**
 * Converts one value to a declared type (inputs and declared outputs share the rules): text is
 * read where unambiguous ("42" → 42 for integer), anything else that does not fit is refused.
 */
export function coerceValue(type: InputType, value: unknown): { ok: true; value: unknown } | { ok: false; message: string } {
  switch (type) {
    case 'string':
      if (typeof value === 'string') return { ok: true, value };
      if (typeof value === 'number' || typeof value === 'boolean') return { ok: true, value: String(value) };
      return { ok: false, message: 'must be a string' };
    case 'number': {
      // Text is read as a decimal number only: Number() would also take '0x10', '0b1' and ''.
      const n = typeof value === 'number' ? value : typeof value === 'string' && DECIMAL_NUMBER.test(value.trim()) ? Number(value) : NaN;
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
      // A time without a zone is a different instant on every server: refused, not guessed.
      const ms = typeof value === 'string' ? parseZonedDateTime(value) : null;
      return ms === null ? { ok: false, message: `must be ${ZONED_DATE_TIME_HINT}` } : { ok: true, value: new Date(ms).toISOString() };
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
    const result = coerceValue(def.type, provided[def.id]);
    if (!result.ok) {
      problems.push({ field: `inputs.${def.id}`, message: `${result.message} (type ${def.type})` });
      continue;
    }
    if (def.schema) {
      const problem = schemaProblem(def.schema, result.value);
      if (problem !== null) {
        problems.push({ field: `inputs.${def.id}`, message: problem });
        continue;
      }
    }
    inputs[def.id] = result.value;
  }
  if (problems.length === 0 && JSON.stringify(inputs).length > MAX_INPUT_BYTES) {
    problems.push({ field: 'inputs', message: `inputs are larger than ${MAX_INPUT_BYTES} bytes` });
  }
  return problems.length ? { ok: false, problems } : { ok: true, inputs };
}

/** Null when `value` matches the input's JSON Schema, else what to fix. */
function schemaProblem(schema: Record<string, unknown>, value: unknown): string | null {
  // compiled at apply already; cached per distinct schema, so this is a lookup
  const compiled = compileJsonSchema(schema);
  if (!compiled.ok) return `cannot be checked: the input's schema ${compiled.problem}`;
  return compiled.validate(value) ? null : describeSchemaError(compiled.validate.errors);
}

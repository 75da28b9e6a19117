import type { OutputDefinition } from '../dsl/types';
import { StopReason } from './abort';
import { coerceValue } from './inputs';

export type WorkflowOutputsResult = { ok: true; values: Record<string, unknown> } | { ok: false; message: string };

/** Enough of a wrong value to recognize it in the error, not enough to dump a document into it. */
function preview(value: unknown): string {
  if (value === undefined || value === null) return 'no value (null)';
  const text = typeof value === 'string' ? `'${value}'` : (JSON.stringify(value) ?? String(value));
  const kind = Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : `${typeof value}`;
  return `${kind} ${text.length > 80 ? `${text.slice(0, 80)}...` : text}`;
}

/**
 * Computes the declared outputs of a successful execution: each `value` template is rendered
 * (`render` carries the execution's context, expression budget and secrets) and coerced to its
 * type with the rules of inputs. The first output that fails to render or does not fit its type
 * decides the error, which names it and says what was wrong. A missing value (null) fits only
 * `json`: for the other types it is nearly always a misspelled field.
 */
export function computeWorkflowOutputs(definitions: readonly OutputDefinition[], render: (template: string) => unknown): WorkflowOutputsResult {
  const values: Record<string, unknown> = {};
  for (const output of definitions) {
    let rendered: unknown;
    try {
      rendered = render(output.value);
    } catch (error) {
      // the execution is being stopped (its timeout ran out mid-evaluation): not this output's fault
      if (error instanceof StopReason) throw error;
      return { ok: false, message: `output '${output.id}': its value could not be computed: ${(error as Error)?.message ?? String(error)}` };
    }
    if (rendered === null || rendered === undefined) {
      if (output.type === 'json') {
        values[output.id] = null;
        continue;
      }
      return { ok: false, message: `output '${output.id}' (type ${output.type}): '${output.value}' gave no value (null); check the task id and field it reads` };
    }
    // a json output is the value as rendered: text stays text (inputs parse JSON text, for the CLI)
    const coerced = output.type === 'json' ? { ok: true as const, value: rendered } : coerceValue(output.type, rendered);
    if (!coerced.ok) {
      return { ok: false, message: `output '${output.id}' (type ${output.type}) ${coerced.message}, got ${preview(rendered)} from '${output.value}'` };
    }
    values[output.id] = coerced.value;
  }
  return { ok: true, values };
}

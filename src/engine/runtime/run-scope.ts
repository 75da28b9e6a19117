import type { ExecutionError } from '../store/execution-types';

/**
 * Where a task runs inside one execution: what stops it, how its task runs are keyed and
 * nested, and what its templates can see (`item`, `index`, the enclosing iterations' outputs).
 * Named RenderScope so as not to be read as an API-key scope.
 */
export interface RenderScope {
  signal: AbortSignal;
  /** suffix making the task key unique per foreach iteration (`@2`, `@2.0`) */
  keySuffix: string;
  parentTaskRunId: string | null;
  iteration: number | null;
  item?: unknown;
  index?: number;
  /** outputs of the enclosing foreach iterations, innermost last */
  locals: Record<string, unknown>[];
}

/** A task failed for good (retries exhausted); carries the execution-level error. */
export class TaskFailedError extends Error {
  constructor(readonly error: ExecutionError) {
    super(error.message);
  }
}

export class LeaseLostError extends Error {
  constructor() {
    super('lease lost: another worker owns this execution now');
  }
}

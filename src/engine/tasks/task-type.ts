import type { PropertySchema } from '../dsl/property-schema';
import type { TaskDefinition, TaskLogLevel } from '../dsl/types';

export type { PropertySchema, PropertySpec, PropertyKind, TaskTypeSchema } from '../dsl/property-schema';

/** Limits and switches from configuration that leaf tasks need. */
export interface TaskRuntimeConfig {
  http: {
    maxResponseBytes: number;
    /** CIDRs allowed even if a default rule denies them (e.g. 127.0.0.1/32 in tests) */
    allowCidrs: readonly string[];
    /** CIDRs always denied, on top of the defaults */
    denyCidrs: readonly string[];
  };
  shell: {
    enabled: boolean;
    maxOutputBytes: number;
  };
}

/** What a running leaf task may use. Everything here is scoped to one task attempt. */
export interface TaskContext {
  executionId: string;
  taskRunId: string;
  taskId: string;
  /** the retry number of this attempt: 1 for the first run, 2 for the first retry... */
  attempt: number;
  /** aborted on cancel, on task/workflow timeout and on shutdown; `signal.reason` says which */
  signal: AbortSignal;
  /**
   * Renders `{{ }}` templates (deeply) against the execution's current context. `onSecretUsed`
   * is called when the rendering read a secret (so a task can keep that value out of messages).
   * Tasks render their properties themselves, when they need them: the http task, for one,
   * must know whether its URL read a secret.
   */
  render(value: unknown, onSecretUsed?: () => void): unknown;
  /** writes a log line for this task attempt (secret values masked, batched by the engine) */
  log(level: TaskLogLevel, message: string): void;
  config: TaskRuntimeConfig;
  /**
   * The cap on the JSON size of what `run` returns (engine.maxOutputBytes): larger outputs fail
   * the attempt with kind OUTPUTS_TOO_LARGE. Secret values in outputs are masked by the engine.
   */
  maxOutputBytes: number;
}

/**
 * A task type: what the DSL accepts for it (`properties`, checked at apply with line-numbered
 * diagnostics like every built-in type) and what runs it. The built-in leaf types (log, sleep,
 * http, output, fail, shell) are TaskTypes; a platform team adds its own through the engine
 * options (`taskTypes`) or as a `@TaskType()` Nest provider. A type's own settings are a
 * configuration section its provider injects (docs/extending.md). Names are unique: a duplicate
 * is refused when the engine starts.
 *
 * `run` gets the task as the schema normalized it (templates not yet rendered: see
 * TaskContext.render) and returns the task's outputs (a JSON-compatible value, or null), or
 * throws a TaskFailure (or any Error) to fail the attempt. It must stop promptly when
 * `ctx.signal` aborts, leaving nothing running behind (sockets closed, processes killed).
 */
export interface TaskType<T extends TaskDefinition = TaskDefinition> {
  readonly name: T['type'];
  /** the type's own properties (id, type, description, timeout and retry are common to all) */
  readonly properties: PropertySchema;
  /**
   * No side effect outside the engine and no waiting (log, output, fail): its run is written
   * once, in its final state, saving two commits per task. Re-running it after a crash must be
   * indistinguishable from the first run.
   */
  readonly instant?: boolean;
  /**
   * The setting that switches this type off on this server, when it is off (e.g.
   * 'engine.tasks.shell.enabled'); null or absent: enabled. Using a disabled type is an
   * apply-time diagnostic.
   */
  disabledBy?(config: TaskRuntimeConfig): string | null;
  run(task: T, ctx: TaskContext): Promise<unknown>;
}

/** A failure with a stable kind the engine reports in `error` (e.g. TIMEOUT, SSRF_DENIED). */
export class TaskFailure extends Error {
  constructor(
    message: string,
    readonly kind: string = 'TASK_FAILED',
  ) {
    super(message);
    this.name = 'TaskFailure';
  }
}

/** Resolves when `ms` passed; rejects with the signal's reason when aborted first. */
export function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

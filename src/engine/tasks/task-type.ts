import type { TaskDefinition, TaskLogLevel } from '../dsl/types';

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
  attempt: number;
  /** aborted on cancel, on task/workflow timeout and on shutdown; `signal.reason` says which */
  signal: AbortSignal;
  /**
   * Renders `{{ }}` templates (deeply) against the execution's current context. `onSecretUsed`
   * is called when the rendering read a secret (so a task can keep that value out of messages).
   */
  render(value: unknown, onSecretUsed?: () => void): unknown;
  /** writes a log line for this task attempt (masked and batched by the engine) */
  log(level: TaskLogLevel, message: string): void;
  config: TaskRuntimeConfig;
}

/**
 * A leaf task type. `run` returns the task's outputs (a JSON-compatible value, or null) or
 * throws a TaskFailure (or any Error) to fail the attempt. It must stop promptly when
 * `ctx.signal` aborts, leaving nothing running behind (sockets closed, processes killed).
 */
export interface TaskType<T extends TaskDefinition = TaskDefinition> {
  readonly type: T['type'];
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

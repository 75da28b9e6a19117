import type {
  ForeachTask,
  IfTask,
  ParallelTask,
  RetryPolicy,
  SubflowTask,
  TaskDefinition,
  TaskLogLevel,
  WorkflowDefinition,
} from '../dsl/types';
import type { EngineLogger } from '../logger';
import { evaluateCondition, ExpressionError, ExpressionTimeoutError, renderValue, type ExpressionContext, type ExpressionLimits, type RenderOptions, type SecretResolver } from '../expressions';
import type { ExecutionError, ExecutionRecord, Fence, LogLevelName, TaskRunRecord } from '../store/execution-types';
import type { StateStore } from '../store/state-store';
import { abortableDelay, TaskFailure, type TaskContext, type TaskRuntimeConfig, type TaskType } from '../tasks/task-type';
import { formatDuration, linkedController, StopReason, stopReasonOf } from './abort';
import { newId } from './ids';
import type { CrashSite } from './crash-loop';
import type { LogWriter } from './log-writer';
import type { EngineEvents } from '../observer';
import type { SecretStore } from './secrets';
import { computeWorkflowOutputs } from './workflow-outputs';

export interface SubflowLauncher {
  /** idempotent per `idempotencyKey`: a resumed parent finds the child it started before */
  start(parent: ExecutionRecord, task: SubflowTask, inputs: Record<string, unknown>, idempotencyKey: string): Promise<string>;
  /** resolves with the child's terminal record; on abort, cancels the child and rejects */
  waitForEnd(childId: string, signal: AbortSignal): Promise<ExecutionRecord>;
}

export interface RunnerDeps {
  store: StateStore;
  tasks: ReadonlyMap<string, TaskType>;
  taskConfig: TaskRuntimeConfig;
  secrets: SecretStore;
  logs: LogWriter;
  subflows: SubflowLauncher;
  logger: EngineLogger;
  loadDefinition(workflowId: string, revision: number): Promise<WorkflowDefinition | null>;
  maxOutputBytes: number;
  /** the budget of each evaluation (unset fields: the defaults) */
  expressionLimits?: Partial<ExpressionLimits>;
  now(): number;
  /** test-only crash injection (crash-loop.ts); null outside the test suite */
  crashHook?: ((taskId: string) => void) | null;
  /** where task ends and retries are reported (metrics) */
  events?: EngineEvents;
}

export type RunOutcome = 'SUCCESS' | 'FAILED' | 'CANCELLED' | 'RELEASED' | 'LOST';

/** A task failed for good (retries exhausted); carries the execution-level error. */
class TaskFailedError extends Error {
  constructor(readonly error: ExecutionError) {
    super(error.message);
  }
}

class LeaseLostError extends Error {
  constructor() {
    super('lease lost: another worker owns this execution now');
  }
}

interface Scope {
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

const LEVELS: Record<TaskLogLevel, LogLevelName> = { debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR' };
const CONTAINER_TYPES = new Set(['parallel', 'if', 'foreach']);
/**
 * Tasks with no side effect outside the engine and no waiting: their run is written once, in its
 * final state. Were the process to die mid-way, re-running them is indistinguishable from the
 * first run, so they need no RUNNING row (two fewer commits per task on the hot path).
 */
const INSTANT_TYPES = new Set(['log', 'output', 'fail']);
const MAX_SUBFLOW_DEPTH = 10;

export function retryDelayMs(policy: RetryPolicy, failures: number): number {
  const base = policy.backoff === 'exponential' ? policy.delayMs * 2 ** (failures - 1) : policy.delayMs;
  return policy.maxDelayMs !== null ? Math.min(base, policy.maxDelayMs) : base;
}

/**
 * Runs one claimed execution to its end (or until it is stopped), resuming from the task runs
 * already stored: completed tasks are never run again, an interrupted attempt is closed as
 * INTERRUPTED and the task runs again as a new attempt. Every write is fenced on the claim.
 */
export class ExecutionRun {
  private readonly fence: Fence;
  private readonly runsByKey = new Map<string, TaskRunRecord[]>();
  private readonly outputs: Record<string, unknown> = {};
  private base: ExpressionContext = {};
  private errorContext: ExecutionError | null = null;
  private lastFailedTaskId: string | null = null;
  /**
   * The only way this run reads secrets: those granted to the execution's namespace. A subflow
   * is another execution with its own run, so it gets its own workflow's namespace, never this.
   */
  private readonly secrets: SecretResolver;
  /** epoch ms when the workflow timeout fires, or null */
  private workflowDeadline: number | null = null;
  private stopForWorkflowTimeout: () => void = () => undefined;
  /**
   * Recovered from a dead owner since its last progress: it may be what killed that process.
   * Until its next progress, it records what it is about to run (one write per task, only
   * for suspects), and that progress write resets the crash count (crash-loop.ts).
   */
  private suspect: boolean;

  constructor(
    private readonly deps: RunnerDeps,
    private readonly execution: ExecutionRecord,
    private readonly controller: AbortController,
    /** called once a suspect makes progress (it is no longer suspected of crashing the process) */
    private readonly onCleared: () => void = () => undefined,
  ) {
    this.fence = { executionId: execution.id, owner: execution.owner!, attempt: execution.attempt };
    this.secrets = deps.secrets.forNamespace(execution.namespace);
    this.suspect = execution.crashRecoveries > 0;
  }

  async run(): Promise<RunOutcome> {
    const { deps, execution } = this;
    let workflowTimer: NodeJS.Timeout | null = null;
    try {
      const definition = await deps.loadDefinition(execution.workflowId, execution.revision);
      if (!definition) throw new TaskFailedError({ message: `workflow revision ${execution.workflowId}@${execution.revision} not found`, taskId: null });
      // The first claim (attempt 1) cannot have task runs yet: only a resumed execution reads them.
      const previousRuns = execution.attempt > 1 ? await deps.store.executions.listTaskRuns(execution.id) : [];
      for (const run of previousRuns) {
        const list = this.runsByKey.get(run.taskKey) ?? [];
        list.push(run);
        this.runsByKey.set(run.taskKey, list);
      }
      for (const list of this.runsByKey.values()) list.sort((a, b) => a.attempt - b.attempt);

      if (execution.timeoutMs !== null) {
        const remaining = execution.timeoutMs - (deps.now() - (execution.startedAt ?? deps.now()));
        const stop = () => this.controller.abort(new StopReason('TIMEOUT', `execution timed out after ${formatDuration(execution.timeoutMs!)}`));
        this.workflowDeadline = deps.now() + remaining;
        this.stopForWorkflowTimeout = stop;
        if (remaining <= 0) stop();
        else workflowTimer = setTimeout(stop, remaining);
      }

      this.base = {
        inputs: execution.inputs,
        execution: {
          id: execution.id,
          workflowId: execution.workflowId,
          namespace: execution.namespace,
          revision: execution.revision,
          labels: execution.labels,
          trigger: execution.trigger,
          startedAt: new Date(execution.startedAt ?? deps.now()).toISOString(),
        },
      };
      const root: Scope = { signal: this.controller.signal, keySuffix: '', parentTaskRunId: null, iteration: null, locals: [] };
      let workflowOutputs: Record<string, unknown> | null = null;
      try {
        // no variables, nothing to render: nothing that could crash here
        if (Object.keys(definition.variables).length > 0) await this.markCrashSite({ taskId: null, attempt: null });
        try {
          this.base.vars = renderValue(definition.variables, this.base, this.renderOptions(null)) as Record<string, unknown>;
        } catch (error) {
          this.rethrowIfWorkflowTimedOut(error);
          throw new TaskFailedError({ message: `variables: ${this.mask((error as Error).message)}`, taskId: null, kind: 'EXPRESSION_ERROR' });
        }
        await this.runSequence(definition.tasks, root);
        workflowOutputs = this.declaredOutputs(definition);
      } catch (error) {
        const failure = this.failureOf(error);
        if (!failure) throw error;
        await this.runErrorHandlers(definition, failure);
        return (await this.finish('FAILED', failure)) ? 'FAILED' : 'LOST';
      }
      return (await this.finish('SUCCESS', null, workflowOutputs)) ? 'SUCCESS' : 'LOST';
    } catch (error) {
      const stop = error instanceof StopReason ? error : stopReasonOf(this.controller.signal);
      if (error instanceof LeaseLostError || stop?.kind === 'LEASE_LOST') return 'LOST';
      if (stop?.kind === 'SHUTDOWN') {
        await deps.logs.flush();
        return (await deps.store.executions.releaseExecution(this.fence, deps.now())) ? 'RELEASED' : 'LOST';
      }
      if (stop?.kind === 'CANCELLED') {
        return (await this.finish('CANCELLED', { message: stop.message, taskId: null, kind: 'CANCELLED' })) ? 'CANCELLED' : 'LOST';
      }
      deps.logger.error({ err: error, executionId: execution.id }, 'execution failed unexpectedly');
      const failure: ExecutionError = { message: this.mask(`internal error: ${(error as Error)?.message ?? String(error)}`), taskId: this.lastFailedTaskId, kind: 'INTERNAL' };
      return (await this.finish('FAILED', failure)) ? 'FAILED' : 'LOST';
    } finally {
      if (workflowTimer) clearTimeout(workflowTimer);
    }
  }

  /** A failure that makes the execution FAILED (and runs the `errors` tasks), or null. */
  private failureOf(error: unknown): ExecutionError | null {
    if (error instanceof TaskFailedError) return error.error;
    const stop = error instanceof StopReason ? error : null;
    if (stop?.kind === 'TIMEOUT') return { message: stop.message, taskId: this.lastFailedTaskId, kind: 'TIMEOUT' };
    return null;
  }

  private async runErrorHandlers(definition: WorkflowDefinition, failure: ExecutionError): Promise<void> {
    if (definition.errors.length === 0) return;
    // The handlers get their own signal: a workflow timeout must not stop them, a cancel or a
    // shutdown still does.
    const handlers = new AbortController();
    const forward = () => {
      const stop = stopReasonOf(this.controller.signal);
      if (stop && stop.kind !== 'TIMEOUT') handlers.abort(stop);
    };
    this.controller.signal.addEventListener('abort', forward);
    forward();
    this.errorContext = { message: failure.message, taskId: failure.taskId };
    // nor may the workflow's deadline stop their evaluations
    this.workflowDeadline = null;
    try {
      await this.runSequence(definition.errors, { signal: handlers.signal, keySuffix: '', parentTaskRunId: null, iteration: null, locals: [] });
    } catch (error) {
      if (this.failureOf(error) === null) throw error;
      this.deps.logs.write(this.line(null, null, null, 'ERROR', `an errors handler failed: ${(error as Error).message}`));
    } finally {
      this.controller.signal.removeEventListener('abort', forward);
    }
  }

  /**
   * Every task succeeded: the values of the declared `outputs:` (null when none are declared;
   * revisions stored before outputs existed have no `outputs` at all). One that does not fit its
   * type fails the execution like a failing task would, `errors` tasks included.
   */
  private declaredOutputs(definition: WorkflowDefinition): Record<string, unknown> | null {
    const declared = definition.outputs ?? [];
    if (declared.length === 0) return null;
    const context = { ...this.base, outputs: this.outputs, error: null };
    const result = computeWorkflowOutputs(declared, (template) => {
      try {
        return renderValue(template, context, this.renderOptions(null));
      } catch (error) {
        this.rethrowIfWorkflowTimedOut(error);
        throw error;
      }
    });
    if (!result.ok) throw new TaskFailedError({ message: this.mask(result.message), taskId: null, kind: 'OUTPUTS_INVALID' });
    const size = JSON.stringify(result.values).length;
    if (size > this.deps.maxOutputBytes) {
      throw new TaskFailedError({ message: `the declared outputs are ${size} bytes; the limit is ${this.deps.maxOutputBytes} (engine.maxOutputBytes)`, taskId: null, kind: 'OUTPUTS_TOO_LARGE' });
    }
    return this.deps.secrets.masker.size > 0 ? (this.deps.secrets.masker.maskDeep(result.values) as Record<string, unknown>) : result.values;
  }

  private async finish(state: 'SUCCESS' | 'FAILED' | 'CANCELLED', error: ExecutionError | null, workflowOutputs: Record<string, unknown> | null = null): Promise<boolean> {
    const { deps } = this;
    // taskId → outputs, for the tasks that produced any (log, sleep... produce none)
    const produced = Object.fromEntries(Object.entries(this.outputs).filter(([, value]) => value !== null && value !== undefined));
    const outputs = this.deps.secrets.masker.size > 0 ? this.deps.secrets.masker.maskDeep(produced) : produced;
    if (error) error = { ...error, message: this.mask(error.message) };
    deps.logs.write(this.line(null, null, null, state === 'SUCCESS' ? 'INFO' : 'ERROR', `execution ${state}${error ? `: ${error.message}` : ''}`));
    // A batch of this execution's lines may still be on its way to the store: the terminal
    // state must not commit before it, or a log follower that saw the end could miss lines.
    await deps.logs.idle();
    return deps.store.executions.finishExecution(this.fence, state, outputs, error, deps.now(), deps.logs.drain(), workflowOutputs);
  }

  /** Suspects only: what runs next, durable before it runs, so a crash-loop error can name it. */
  private async markCrashSite(site: CrashSite): Promise<void> {
    if (this.suspect && !(await this.deps.store.executions.recordCrashSite(this.fence, site))) throw new LeaseLostError();
  }

  /** The write options of a write that records progress: the first one after a recovery resets the crash count. */
  private progress(): { resetCrashCount: boolean } {
    const resetCrashCount = this.suspect;
    this.suspect = false;
    if (resetCrashCount) this.onCleared();
    return { resetCrashCount };
  }

  private mask(text: string): string {
    return this.deps.secrets.masker.size > 0 ? this.deps.secrets.masker.mask(text) : text;
  }

  private line(taskId: string | null, taskRunId: string | null, attempt: number | null, level: LogLevelName, message: string) {
    return { executionId: this.execution.id, taskId, taskRunId, attempt, level, ts: this.deps.now(), message };
  }

  private throwIfStopped(scope: Scope): void {
    if (scope.signal.aborted) throw scope.signal.reason;
  }

  private outputsView(scope: Scope): Record<string, unknown> {
    if (scope.locals.length === 0) return this.outputs;
    return Object.assign({}, this.outputs, ...scope.locals);
  }

  /**
   * Evaluation is synchronous, so a timer cannot interrupt it: the earliest of the task's and
   * the workflow's deadlines goes into the evaluation budget instead.
   */
  private renderOptions(taskDeadline: number | null, onSecretUsed?: () => void): RenderOptions {
    const deadline = taskDeadline === null ? this.workflowDeadline : this.workflowDeadline === null ? taskDeadline : Math.min(taskDeadline, this.workflowDeadline);
    return { secrets: this.secrets, limits: this.deps.expressionLimits, deadline, onSecretUsed: onSecretUsed && (() => onSecretUsed()) };
  }

  /** An evaluation that ran into the workflow's deadline stops the execution like its timer would. */
  private rethrowIfWorkflowTimedOut(error: unknown): void {
    if (!(error instanceof ExpressionTimeoutError) || this.workflowDeadline === null || this.deps.now() < this.workflowDeadline) return;
    this.stopForWorkflowTimeout();
    throw this.controller.signal.reason;
  }

  private render(value: unknown, scope: Scope, taskDeadline: number | null = null, onSecretUsed?: () => void): unknown {
    return renderValue(
      value,
      { ...this.base, outputs: this.outputsView(scope), item: scope.item, index: scope.index, error: this.errorContext },
      this.renderOptions(taskDeadline, onSecretUsed),
    );
  }

  private setOutput(taskId: string, value: unknown, scope: Scope): void {
    if (scope.locals.length) scope.locals[scope.locals.length - 1][taskId] = value;
    else this.outputs[taskId] = value;
  }

  private async runSequence(tasks: readonly TaskDefinition[], scope: Scope): Promise<void> {
    for (const task of tasks) {
      this.throwIfStopped(scope);
      await this.runTask(task, scope);
    }
  }

  private runTask(task: TaskDefinition, scope: Scope): Promise<void> {
    if (CONTAINER_TYPES.has(task.type)) return this.runContainer(task as ParallelTask | IfTask | ForeachTask, scope);
    return this.runLeaf(task, scope);
  }

  // ---- containers -------------------------------------------------------------------------------

  private newTaskRun(task: TaskDefinition, key: string, scope: Scope, attempt: number): TaskRunRecord {
    return {
      id: newId(),
      executionId: this.execution.id,
      taskId: task.id,
      taskKey: key,
      parentTaskRunId: scope.parentTaskRunId,
      iteration: scope.iteration,
      attempt,
      state: 'RUNNING',
      startedAt: this.deps.now(),
      endedAt: null,
      outputs: null,
      error: null,
    };
  }

  /** Containers keep one task run across resumes; their decisions (branch, items) are stored on it. */
  private async containerRun(task: TaskDefinition, scope: Scope, outputs: unknown): Promise<TaskRunRecord> {
    const key = task.id + scope.keySuffix;
    const existing = this.runsByKey.get(key)?.at(-1);
    if (existing) return existing;
    const run = { ...this.newTaskRun(task, key, scope, 1), outputs };
    if (!(await this.deps.store.executions.insertTaskRun(this.fence, run))) throw new LeaseLostError();
    this.runsByKey.set(key, [run]);
    return run;
  }

  private async closeContainer(run: TaskRunRecord, state: 'SUCCESS' | 'FAILED' | 'CANCELLED', outputs: unknown, error: ExecutionError | null) {
    if (run.state === state) return;
    run.state = state;
    const options = state === 'SUCCESS' ? this.progress() : {};
    await this.deps.store.executions.updateTaskRun(this.fence, run.id, { state, endedAt: this.deps.now(), outputs, error }, [], options);
  }

  /** A container's `timeout` bounds everything inside it; it fails the execution like any timeout. */
  private async runContainer(task: ParallelTask | IfTask | ForeachTask, outer: Scope): Promise<void> {
    if (task.timeoutMs === null) return this.runContainerBody(task, outer);
    const { controller, dispose } = linkedController(outer.signal);
    const timer = setTimeout(() => controller.abort(new StopReason('TIMEOUT', `task '${task.id}' timed out after ${formatDuration(task.timeoutMs!)}`)), task.timeoutMs);
    try {
      await this.runContainerBody(task, { ...outer, signal: controller.signal });
    } catch (error) {
      if (stopReasonOf(controller.signal)?.kind === 'TIMEOUT') this.lastFailedTaskId ??= task.id;
      throw error;
    } finally {
      clearTimeout(timer);
      dispose();
    }
  }

  private async runContainerBody(task: ParallelTask | IfTask | ForeachTask, scope: Scope): Promise<void> {
    let run: TaskRunRecord | null = null;
    try {
      // Only a decision still to be evaluated runs code of the container itself; a crash in a
      // child is attributed to the child, which records itself.
      if (task.type !== 'parallel' && this.runsByKey.get(task.id + scope.keySuffix) === undefined) {
        await this.markCrashSite({ taskId: task.id, attempt: null });
      }
      this.deps.crashHook?.(task.id);
      if (task.type === 'if') {
        const stored = this.runsByKey.get(task.id + scope.keySuffix)?.at(-1)?.outputs as { branch?: string } | undefined;
        let branch = stored?.branch;
        if (branch === undefined) {
          branch = this.evaluate(task, scope, () =>
            evaluateCondition(task.condition, { ...this.base, outputs: this.outputsView(scope), item: scope.item, index: scope.index, error: this.errorContext }, this.renderOptions(null))
              ? 'then'
              : 'else',
          );
        }
        run = await this.containerRun(task, scope, { branch });
        await this.runSequence(branch === 'then' ? task.then : task.else, { ...scope, parentTaskRunId: run.id });
        this.setOutput(task.id, { branch }, scope);
        await this.closeContainer(run, 'SUCCESS', { branch }, null);
      } else if (task.type === 'parallel') {
        run = await this.containerRun(task, scope, null);
        const parent = run;
        await this.runConcurrently(task.tasks.length, task.concurrency ?? task.tasks.length, scope, (i, child) =>
          this.runTask(task.tasks[i], { ...child, parentTaskRunId: parent.id }),
        );
        await this.closeContainer(run, 'SUCCESS', null, null);
      } else {
        const stored = this.runsByKey.get(task.id + scope.keySuffix)?.at(-1)?.outputs as { items?: unknown[] } | undefined;
        let items = stored?.items;
        if (items === undefined) {
          items = this.evaluate(task, scope, () => {
            const value = typeof task.items === 'string' ? this.render(task.items, scope) : this.render(task.items, scope);
            if (!Array.isArray(value)) throw new TaskFailure(`foreach items must be a list, got ${value === null ? 'null' : typeof value}`, 'INVALID_ITEMS');
            if (value.length > 10_000) throw new TaskFailure(`foreach items has ${value.length} entries; the limit is 10000`, 'INVALID_ITEMS');
            return value;
          });
        }
        const list = items;
        run = await this.containerRun(task, scope, { items: list });
        const parent = run;
        const iterationLocals: Record<string, unknown>[] = list.map(() => ({}));
        await this.runConcurrently(list.length, task.concurrency, scope, (i, child) =>
          this.runSequence(task.tasks, {
            ...child,
            keySuffix: `${scope.keySuffix ? `${scope.keySuffix}.` : '@'}${i}`,
            parentTaskRunId: parent.id,
            iteration: i,
            item: list[i],
            index: i,
            locals: [...scope.locals, iterationLocals[i]],
          }),
        );
        // After the loop, `outputs.<child>` is the list of that child's per-iteration outputs.
        for (const child of task.tasks) this.setOutput(child.id, iterationLocals.map((l) => l[child.id] ?? null), scope);
        this.setOutput(task.id, { iterations: list.length }, scope);
        await this.closeContainer(run, 'SUCCESS', { items: list, iterations: list.length }, null);
      }
    } catch (error) {
      const stop = error instanceof StopReason ? error : null;
      if (!run && error instanceof TaskFailedError && error.error.taskId === task.id) {
        // Its condition or items failed to evaluate: record the container as a FAILED run, so
        // the execution's task runs show where it stopped, as for a leaf task.
        const failed: TaskRunRecord = { ...this.newTaskRun(task, task.id + scope.keySuffix, scope, 1), state: 'FAILED', endedAt: this.deps.now(), error: error.error };
        await this.deps.store.executions.insertTaskRun(this.fence, failed).catch(() => undefined);
      }
      // On shutdown the container stays RUNNING: the next owner continues inside it.
      if (run && stop?.kind !== 'SHUTDOWN' && stop?.kind !== 'LEASE_LOST') {
        const failure = error instanceof TaskFailedError ? error.error : null;
        await this.closeContainer(
          run,
          stop && stop.kind !== 'TIMEOUT' ? 'CANCELLED' : 'FAILED',
          run.outputs,
          failure ?? (stop ? { message: stop.message, taskId: task.id, kind: stop.kind } : null),
        ).catch(() => undefined);
      }
      throw error;
    }
  }

  /** Evaluates a container's expression; an expression error fails the task like any other. */
  private evaluate<T>(task: TaskDefinition, _scope: Scope, fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      this.lastFailedTaskId = task.id;
      this.rethrowIfWorkflowTimedOut(error);
      throw new TaskFailedError({ message: this.mask((error as Error).message), taskId: task.id, kind: (error as TaskFailure).kind ?? 'EXPRESSION_ERROR' });
    }
  }

  /**
   * Runs `count` branches with at most `limit` at once. The first failure stops the others
   * (their running tasks end CANCELLED) and is rethrown once every branch has settled.
   */
  private async runConcurrently(count: number, limit: number, scope: Scope, runBranch: (i: number, scope: Scope) => Promise<void>): Promise<void> {
    const { controller, dispose } = linkedController(scope.signal);
    const child: Scope = { ...scope, signal: controller.signal };
    let next = 0;
    let firstError: unknown = null;
    const worker = async () => {
      while (next < count && !controller.signal.aborted) {
        const i = next++;
        try {
          await runBranch(i, child);
        } catch (error) {
          if (firstError === null) {
            firstError = error;
            if (!controller.signal.aborted) controller.abort(new StopReason('SIBLING_FAILED', 'stopped because a sibling task failed'));
          }
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, count)) }, worker));
    } finally {
      dispose();
    }
    if (firstError !== null) {
      // A sibling's own stop is a consequence; report the original cause.
      throw firstError instanceof StopReason && firstError.kind === 'SIBLING_FAILED' && scope.signal.aborted ? scope.signal.reason : firstError;
    }
    this.throwIfStopped(scope);
  }

  // ---- leaf tasks -------------------------------------------------------------------------------

  private async runLeaf(task: TaskDefinition, scope: Scope): Promise<void> {
    const { deps } = this;
    const key = task.id + scope.keySuffix;
    const previous = this.runsByKey.get(key) ?? [];
    const last = previous.at(-1);
    if (last?.state === 'SUCCESS') {
      this.setOutput(task.id, last.outputs, scope);
      return;
    }
    if (last?.state === 'RUNNING') {
      // The process running this attempt stopped (crash or shutdown): close it; it does not count as a failure.
      last.state = 'FAILED';
      last.error = { message: 'interrupted: the process running this attempt stopped', taskId: task.id, kind: 'INTERRUPTED' };
      if (!(await deps.store.executions.updateTaskRun(this.fence, last.id, { state: 'FAILED', endedAt: deps.now(), error: last.error }))) {
        throw new LeaseLostError();
      }
    }
    const maxAttempts = task.retry?.maxAttempts ?? 1;
    let failures = previous.filter((r) => r.state === 'FAILED' && r.error?.kind !== 'INTERRUPTED').length;
    let attempt = last?.attempt ?? 0;
    if (failures >= maxAttempts && last?.error) {
      this.lastFailedTaskId = task.id;
      throw new TaskFailedError(last.error);
    }
    const type = task.type === 'subflow' ? this.subflowType(key, failures) : deps.tasks.get(task.type);
    if (!type) throw new TaskFailedError({ message: `task type '${task.type}' is not available`, taskId: task.id, kind: 'UNKNOWN_TASK_TYPE' });

    for (;;) {
      this.throwIfStopped(scope);
      await this.markCrashSite({ taskId: task.id, attempt: failures + 1 });
      this.deps.crashHook?.(task.id);
      attempt += 1;
      const run = this.newTaskRun(task, key, scope, attempt);
      const instant = INSTANT_TYPES.has(task.type) && task.timeoutMs === null;
      if (!instant && !(await deps.store.executions.insertTaskRun(this.fence, run))) throw new LeaseLostError();
      previous.push(run);
      this.runsByKey.set(key, previous);
      // instant runs are written once, in their final state
      // `progress`: the attempt finished (SUCCESS or FAILED on its own), not stopped from above
      const record = (patch: { state: 'SUCCESS' | 'FAILED' | 'CANCELLED'; outputs?: unknown; error?: ExecutionError | null }, progress = false) => {
        const endedAt = deps.now();
        const options = progress ? this.progress() : {};
        if (instant) {
          return deps.store.executions.insertTaskRun(
            this.fence,
            { ...run, state: patch.state, endedAt, outputs: patch.outputs ?? null, error: patch.error ?? null },
            deps.logs.drain(),
            options,
          );
        }
        return deps.store.executions.updateTaskRun(this.fence, run.id, { ...patch, endedAt }, deps.logs.drain(), options);
      };

      const { controller, dispose } = linkedController(scope.signal);
      const timeOut = () => controller.abort(new StopReason('TIMEOUT', `task '${task.id}' timed out after ${formatDuration(task.timeoutMs!)}`));
      const timer = task.timeoutMs !== null ? setTimeout(timeOut, task.timeoutMs) : null;
      const taskDeadline = task.timeoutMs !== null ? deps.now() + task.timeoutMs : null;
      const ctx: TaskContext = {
        executionId: this.execution.id,
        taskRunId: run.id,
        taskId: task.id,
        attempt,
        signal: controller.signal,
        config: deps.taskConfig,
        render: (value, onSecretUsed) => {
          try {
            return this.render(value, scope, taskDeadline, onSecretUsed);
          } catch (error) {
            this.rethrowIfWorkflowTimedOut(error);
            if (error instanceof ExpressionTimeoutError && taskDeadline !== null) {
              timeOut();
              throw controller.signal.reason;
            }
            throw error;
          }
        },
        log: (level, message) => deps.logs.write(this.line(task.id, run.id, attempt, LEVELS[level] ?? 'INFO', message)),
      };
      try {
        const raw = await type.run(task as never, ctx);
        if (controller.signal.aborted) throw controller.signal.reason;
        const outputs = raw === undefined ? null : deps.secrets.masker.size > 0 ? deps.secrets.masker.maskDeep(raw) : raw;
        const size = outputs === null ? 0 : JSON.stringify(outputs).length;
        if (size > deps.maxOutputBytes) {
          throw new TaskFailure(`outputs are ${size} bytes; the limit is ${deps.maxOutputBytes} (engine.maxOutputBytes)`, 'OUTPUTS_TOO_LARGE');
        }
        run.state = 'SUCCESS';
        run.outputs = outputs;
        if (!(await record({ state: 'SUCCESS', outputs }, true))) throw new LeaseLostError();
        deps.events?.taskFinished(this.execution.workflowId, task.type, 'SUCCESS', deps.now() - run.startedAt);
        this.setOutput(task.id, outputs, scope);
        return;
      } catch (error) {
        if (error instanceof LeaseLostError) throw error;
        const executionStop = stopReasonOf(scope.signal);
        if (executionStop) {
          // Stopped from above: cancel, shutdown, workflow timeout, or a failing sibling.
          const interrupted = executionStop.kind === 'SHUTDOWN' || executionStop.kind === 'LEASE_LOST';
          const ended = executionStop.kind === 'TIMEOUT' || interrupted ? 'FAILED' : 'CANCELLED';
          run.state = ended;
          run.error = { message: interrupted ? `interrupted: ${executionStop.message}` : executionStop.message, taskId: task.id, kind: interrupted ? 'INTERRUPTED' : executionStop.kind };
          if (executionStop.kind === 'TIMEOUT') this.lastFailedTaskId = task.id;
          await record({ state: ended, error: run.error });
          deps.events?.taskFinished(this.execution.workflowId, task.type, ended, deps.now() - run.startedAt);
          throw executionStop;
        }
        const taskStop = stopReasonOf(controller.signal);
        const message = this.mask(taskStop ? taskStop.message : ((error as Error)?.message ?? String(error)));
        const kind = taskStop ? taskStop.kind : error instanceof TaskFailure ? error.kind : error instanceof ExpressionError ? 'EXPRESSION_ERROR' : 'TASK_FAILED';
        run.state = 'FAILED';
        run.error = { message, taskId: task.id, kind };
        failures += 1;
        const willRetry = failures < maxAttempts && task.retry !== null;
        deps.logs.write(this.line(task.id, run.id, attempt, 'ERROR', `attempt ${attempt} failed: ${message}`));
        if (!(await record({ state: 'FAILED', error: run.error }, true))) throw new LeaseLostError();
        deps.events?.taskFinished(this.execution.workflowId, task.type, 'FAILED', deps.now() - run.startedAt);
        if (!willRetry) {
          this.lastFailedTaskId = task.id;
          throw new TaskFailedError(run.error);
        }
        deps.events?.taskRetried(this.execution.workflowId, task.type);
        const delay = retryDelayMs(task.retry!, failures);
        deps.logs.write(this.line(task.id, run.id, attempt, 'INFO', `retrying in ${formatDuration(delay)} (attempt ${attempt + 1} of ${maxAttempts})`));
        await abortableDelay(delay, scope.signal);
      } finally {
        if (timer) clearTimeout(timer);
        dispose();
      }
    }
  }

  /**
   * The subflow task needs the engine (to start and await another execution), so it is built
   * here. The child is keyed by the parent task position and retry number: a resumed parent
   * finds the child it started; a retry after a failure starts a fresh one.
   */
  private subflowType(taskKey: string, failures: number): TaskType {
    const { deps, execution } = this;
    return {
      type: 'subflow',
      run: async (task, ctx) => {
        const subflow = task as SubflowTask;
        if (execution.depth + 1 > MAX_SUBFLOW_DEPTH) {
          throw new TaskFailure(`subflow nesting deeper than ${MAX_SUBFLOW_DEPTH} levels (a workflow calling itself?)`, 'SUBFLOW_DEPTH');
        }
        const inputs = ctx.render(subflow.inputs) as Record<string, unknown>;
        const childId = await deps.subflows.start(execution, subflow, inputs, `subflow:${execution.id}:${taskKey}:${failures}`);
        ctx.log('info', `subflow ${subflow.workflowId}: execution ${childId}`);
        const child = await deps.subflows.waitForEnd(childId, ctx.signal);
        if (child.state !== 'SUCCESS') {
          throw new TaskFailure(`subflow ${subflow.workflowId} execution ${childId} ended ${child.state}${child.error ? `: ${child.error.message}` : ''}`, 'SUBFLOW_FAILED');
        }
        return { executionId: childId, state: child.state, outputs: child.outputs ?? {} };
      },
    };
  }
}

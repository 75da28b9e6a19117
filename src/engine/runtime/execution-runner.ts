import type { TerminalState } from '../execution-state';
import type { TaskDefinition, TaskLogLevel, WorkflowDefinition } from '../dsl/types';
import type { EngineLogger } from '../logger';
import { evaluateCondition, ExpressionError, ExpressionTimeoutError, renderValue, type ExpressionContext, type ExpressionLimits, type RenderOptions, type SecretResolver } from '../expressions';
import type { ExecutionError, ExecutionRecord, Fence, LogLevelName, TaskRunRecord } from '../store/execution-types';
import type { StateStore } from '../store/state-store';
import type { TaskTypeRegistry } from '../tasks/registry';
import { abortableDelay, TaskFailure, type TaskContext, type TaskRuntimeConfig } from '../tasks/task-type';
import { formatDuration, StopReason, stopReasonOf } from './abort';
import { containerFor, type Container, type ContainerHost, type OpenedRun } from './containers';
import { countedFailures, retryDelayMs, willRetry } from './retry';
import { LeaseLostError, TaskFailedError, type RenderScope } from './run-scope';
import { subflowTaskType, type SubflowLauncher } from './subflow';
import { taskTimeout } from './timeout';
import { newId } from './ids';
import type { CrashSite } from './crash-loop';
import type { LogWriter } from './log-writer';
import type { EngineEvents } from '../observer';
import type { SecretStore } from './secrets';
import { computeWorkflowOutputs } from './workflow-outputs';

export type { SubflowLauncher } from './subflow';
export { retryDelayMs } from './retry';
export type { RenderScope } from './run-scope';

export interface RunnerDeps {
  store: StateStore;
  /** leaf task types by name (built-in and plugins); containers and subflow are run here */
  tasks: TaskTypeRegistry;
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

export type RunOutcome = TerminalState | 'RELEASED' | 'LOST';

const LEVELS: Record<TaskLogLevel, LogLevelName> = { debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR' };
/**
 * Runs one claimed execution to its end (or until it is stopped), resuming from the task runs
 * already stored: completed tasks are never run again, an interrupted attempt is closed as
 * INTERRUPTED and the task runs again as a new attempt. Every write is fenced on the claim.
 */
export class ExecutionRun implements ContainerHost {
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
    this.fence = { executionId: execution.id, owner: execution.owner!, claim: execution.claim };
    this.secrets = deps.secrets.forNamespace(execution.namespace);
    this.suspect = execution.crashRecoveries > 0;
  }

  async run(): Promise<RunOutcome> {
    const { deps, execution } = this;
    let workflowTimer: NodeJS.Timeout | null = null;
    try {
      const definition = await deps.loadDefinition(execution.workflowId, execution.revision);
      if (!definition) throw new TaskFailedError({ message: `workflow revision ${execution.workflowId}@${execution.revision} not found`, taskId: null });
      // The first claim cannot have task runs yet: only a resumed execution reads them.
      const previousRuns = execution.claim > 1 ? await deps.store.executions.listTaskRuns(execution.id) : [];
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
      const root: RenderScope = { signal: this.controller.signal, keySuffix: '', parentTaskRunId: null, iteration: null, locals: [] };
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

  private async finish(state: TerminalState, error: ExecutionError | null, workflowOutputs: Record<string, unknown> | null = null): Promise<boolean> {
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

  private throwIfStopped(scope: RenderScope): void {
    if (scope.signal.aborted) throw scope.signal.reason;
  }

  private outputsView(scope: RenderScope): Record<string, unknown> {
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

  render(value: unknown, scope: RenderScope, taskDeadline: number | null = null, onSecretUsed?: () => void): unknown {
    return renderValue(
      value,
      { ...this.base, outputs: this.outputsView(scope), item: scope.item, index: scope.index, error: this.errorContext },
      this.renderOptions(taskDeadline, onSecretUsed),
    );
  }

  evaluateCondition(condition: string, scope: RenderScope): boolean {
    return evaluateCondition(condition, { ...this.base, outputs: this.outputsView(scope), item: scope.item, index: scope.index, error: this.errorContext }, this.renderOptions(null));
  }

  setOutput(taskId: string, value: unknown, scope: RenderScope): void {
    if (scope.locals.length) scope.locals[scope.locals.length - 1][taskId] = value;
    else this.outputs[taskId] = value;
  }

  async runSequence(tasks: readonly TaskDefinition[], scope: RenderScope): Promise<void> {
    for (const task of tasks) {
      this.throwIfStopped(scope);
      await this.runTask(task, scope);
    }
  }

  runTask(task: TaskDefinition, scope: RenderScope): Promise<void> {
    const container = containerFor(task);
    if (container) return this.runContainer(container, task, scope);
    return this.runLeaf(task, scope);
  }

  private newTaskRun(task: TaskDefinition, key: string, scope: RenderScope, attempt: number): TaskRunRecord {
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

  // ---- containers (their own logic: runtime/containers/*) -----------------------------------------

  storedOutputs(task: TaskDefinition, scope: RenderScope): unknown {
    return this.runsByKey.get(task.id + scope.keySuffix)?.at(-1)?.outputs;
  }

  /** Containers keep one task run across resumes; their decisions (branch, items) are stored on it. */
  async openRun(task: TaskDefinition, scope: RenderScope, outputs: unknown): Promise<TaskRunRecord> {
    const key = task.id + scope.keySuffix;
    const existing = this.runsByKey.get(key)?.at(-1);
    if (existing) return existing;
    const run = { ...this.newTaskRun(task, key, scope, 1), outputs };
    if (!(await this.deps.store.executions.insertTaskRun(this.fence, run))) throw new LeaseLostError();
    this.runsByKey.set(key, [run]);
    return run;
  }

  async closeRun(run: TaskRunRecord, state: TerminalState, outputs: unknown, error: ExecutionError | null): Promise<void> {
    if (run.state === state) return;
    run.state = state;
    const options = state === 'SUCCESS' ? this.progress() : {};
    await this.deps.store.executions.updateTaskRun(this.fence, run.id, { state, endedAt: this.deps.now(), outputs, error }, [], options);
  }

  /** A container's `timeout` bounds everything inside it; it fails the execution like any timeout. */
  private async runContainer(container: Container, task: TaskDefinition, outer: RenderScope): Promise<void> {
    if (task.timeoutMs === null) return this.runContainerBody(container, task, outer);
    const timeout = taskTimeout(task, outer.signal, this.deps.now);
    try {
      await this.runContainerBody(container, task, { ...outer, signal: timeout.controller.signal });
    } catch (error) {
      if (stopReasonOf(timeout.controller.signal)?.kind === 'TIMEOUT') this.lastFailedTaskId ??= task.id;
      throw error;
    } finally {
      timeout.dispose();
    }
  }

  private async runContainerBody(container: Container, task: TaskDefinition, scope: RenderScope): Promise<void> {
    const opened: OpenedRun = { run: null };
    try {
      // Only a decision still to be evaluated runs code of the container itself; a crash in a
      // child is attributed to the child, which records itself.
      if (container.decides && this.runsByKey.get(task.id + scope.keySuffix) === undefined) {
        await this.markCrashSite({ taskId: task.id, attempt: null });
      }
      this.deps.crashHook?.(task.id);
      await container.run(this, task, scope, opened);
    } catch (error) {
      const { run } = opened;
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
        await this.closeRun(
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
  evaluate<T>(task: TaskDefinition, fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      this.lastFailedTaskId = task.id;
      this.rethrowIfWorkflowTimedOut(error);
      throw new TaskFailedError({ message: this.mask((error as Error).message), taskId: task.id, kind: (error as TaskFailure).kind ?? 'EXPRESSION_ERROR' });
    }
  }

  // ---- leaf tasks -------------------------------------------------------------------------------

  private async runLeaf(task: TaskDefinition, scope: RenderScope): Promise<void> {
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
    let failures = countedFailures(previous);
    // the retry number of the task run (1, 2, ...), not the claim's attempt (this.fence)
    let retryAttempt = last?.attempt ?? 0;
    if (failures >= maxAttempts && last?.error) {
      this.lastFailedTaskId = task.id;
      throw new TaskFailedError(last.error);
    }
    const type = task.type === 'subflow' ? subflowTaskType(deps.subflows, this.execution, key, failures) : deps.tasks.leaf(task.type);
    if (!type) throw new TaskFailedError({ message: `task type '${task.type}' is not available`, taskId: task.id, kind: 'UNKNOWN_TASK_TYPE' });

    for (;;) {
      this.throwIfStopped(scope);
      await this.markCrashSite({ taskId: task.id, attempt: failures + 1 });
      this.deps.crashHook?.(task.id);
      retryAttempt += 1;
      const run = this.newTaskRun(task, key, scope, retryAttempt);
      // Instant types (TaskType.instant) have no side effect and do not wait: written once, at the end.
      const instant = type.instant === true && task.timeoutMs === null;
      if (!instant && !(await deps.store.executions.insertTaskRun(this.fence, run))) throw new LeaseLostError();
      previous.push(run);
      this.runsByKey.set(key, previous);
      // instant runs are written once, in their final state
      // `progress`: the attempt finished (SUCCESS or FAILED on its own), not stopped from above
      const record = (patch: { state: TerminalState; outputs?: unknown; error?: ExecutionError | null }, progress = false) => {
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

      const timeout = taskTimeout(task, scope.signal, deps.now);
      const { controller } = timeout;
      const taskDeadline = timeout.deadline;
      const attempt = retryAttempt;
      const ctx: TaskContext = {
        executionId: this.execution.id,
        taskRunId: run.id,
        taskId: task.id,
        attempt,
        signal: controller.signal,
        config: deps.taskConfig,
        maxOutputBytes: deps.maxOutputBytes,
        render: (value, onSecretUsed) => {
          try {
            return this.render(value, scope, taskDeadline, onSecretUsed);
          } catch (error) {
            this.rethrowIfWorkflowTimedOut(error);
            if (error instanceof ExpressionTimeoutError && taskDeadline !== null) {
              timeout.timeOut();
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
        const retrying = willRetry(task.retry, failures);
        deps.logs.write(this.line(task.id, run.id, attempt, 'ERROR', `attempt ${attempt} failed: ${message}`));
        if (!(await record({ state: 'FAILED', error: run.error }, true))) throw new LeaseLostError();
        deps.events?.taskFinished(this.execution.workflowId, task.type, 'FAILED', deps.now() - run.startedAt);
        if (!retrying) {
          this.lastFailedTaskId = task.id;
          throw new TaskFailedError(run.error);
        }
        deps.events?.taskRetried(this.execution.workflowId, task.type);
        const delay = retryDelayMs(task.retry!, failures);
        deps.logs.write(this.line(task.id, run.id, attempt, 'INFO', `retrying in ${formatDuration(delay)} (attempt ${attempt + 1} of ${maxAttempts})`));
        await abortableDelay(delay, scope.signal);
      } finally {
        timeout.dispose();
      }
    }
  }
}

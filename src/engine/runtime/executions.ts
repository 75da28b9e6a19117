import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { SubflowTask } from '../dsl/types';
import { ConflictError, EngineError, NotFoundError, NotReadyError, ValidationError } from '../errors';
import type { AuditLog } from '../access/audit';
import type { Caller } from '../access/scopes';
import type { WorkflowCatalog } from '../workflows';
import { namespaceAllowed } from '../access/namespace-patterns';
import { type ExecutionRecord, type ExecutionTrigger, type LogLevelName, type LogLine, type TaskRunRecord } from '../store/execution-types';
import { EXECUTION_STATES, TERMINAL_STATES, type ExecutionState } from '../execution-state';
import type { StateStore } from '../store/state-store';
import type { SecretMasker } from '../expressions';
import { StopReason } from './abort';
import type { SubflowLauncher } from './execution-runner';
import { newId } from './ids';
import { coerceInputs } from './inputs';
import { followLogs, type FollowEvent, type FollowNotices, type FollowOptions, type FollowQuery } from './log-follow';
import type { WorkerPool } from './worker-pool';
import type { EngineEvents } from '../observer';
import { TaskFailure } from '../tasks/task-type';

export interface TriggerRequest {
  inputs?: Record<string, unknown>;
  labels?: Record<string, string>;
  idempotencyKey?: string;
  trigger?: ExecutionTrigger;
}

export interface ExecutionDetail {
  execution: ExecutionRecord;
  taskRuns: TaskRunRecord[];
}

export class InvalidInputsError extends EngineError {
  constructor(details: { field: string; message: string }[]) {
    super('INVALID_INPUTS', `the inputs do not fit the workflow: ${details.map((d) => `${d.field} ${d.message}`).join('; ')}`, details);
  }
}

/** JSON with sorted keys: the same body always hashes the same (idempotency). */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

const WAIT_POLL_MS = 200;

/**
 * Trigger, inspect, list, cancel and await executions; read their logs. Shared by the HTTP
 * modules and the CLI.
 */
export class ExecutionService implements SubflowLauncher {
  private readonly finished = new EventEmitter();

  constructor(
    private readonly store: StateStore,
    private readonly workflows: WorkflowCatalog,
    private readonly pool: WorkerPool,
    private readonly audit?: AuditLog,
    private readonly masker?: SecretMasker,
    private readonly now: () => number = Date.now,
    private readonly events?: EngineEvents,
    /** where log followers are woken and told to stop (the engine's log writer and drain) */
    private readonly logNotices?: Omit<FollowNotices, 'onFinished'>,
  ) {
    this.finished.setMaxListeners(0);
  }

  /**
   * What leaves the engine: inputs and labels may carry a secret's value (passed in by a
   * caller), so they are masked like logs and outputs. The stored execution keeps the real values.
   */
  private present(execution: ExecutionRecord): ExecutionRecord {
    if (!this.masker || this.masker.size === 0) return execution;
    return { ...execution, inputs: this.masker.maskDeep(execution.inputs), labels: this.masker.maskDeep(execution.labels) };
  }

  /** Called by the worker pool when an execution it ran stopped. */
  notifyFinished(executionId: string): void {
    this.finished.emit(executionId);
  }

  async trigger(workflowId: string, request: TriggerRequest, caller?: Caller, depth = 0, parentExecutionId: string | null = null) {
    const { workflow, definition } = await this.workflows.current(workflowId, caller);
    if (!workflow.enabled) throw new ConflictError('WORKFLOW_DISABLED', `workflow '${workflowId}' is disabled; enable it with PATCH {"enabled": true}`);
    const coerced = coerceInputs(definition.inputs, request.inputs);
    if (!coerced.ok) throw new InvalidInputsError(coerced.problems);
    const key = request.idempotencyKey ?? null;
    const hash = key === null ? null : createHash('sha256').update(canonicalJson({ inputs: request.inputs ?? {}, labels: request.labels ?? {} })).digest('hex');
    const { created, execution } = await this.store.executions.insertExecution({
      id: newId(),
      workflowId,
      namespace: workflow.namespace,
      revision: workflow.revision,
      inputs: coerced.inputs,
      labels: { ...definition.labels, ...(request.labels ?? {}) },
      trigger: request.trigger ?? { type: 'api' },
      createdAt: this.now(),
      concurrencyLimit: definition.concurrency?.limit ?? null,
      timeoutMs: definition.timeoutMs,
      parentExecutionId,
      depth,
      idempotencyKey: key,
      idempotencyHash: hash,
    });
    if (!created && execution.idempotencyHash !== hash) {
      throw new ConflictError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was already used with a different request body; use a new key');
    }
    if (created) {
      this.pool.poke();
      if (caller) {
        this.audit?.record(caller, { action: 'execution.trigger', resourceType: 'execution', resourceId: execution.id, namespace: execution.namespace, details: { workflowId, revision: execution.revision } });
      }
    }
    return { execution: this.present(execution), created };
  }

  /**
   * The API's trigger: trigger, then with `waitMs` wait up to that long for the end. `settled`:
   * the answer is final (an idempotent replay, or an execution that ended within the wait),
   * which the REST route answers 200 rather than 202.
   */
  async triggerAndWait(workflowId: string, request: TriggerRequest, waitMs: number | undefined, caller?: Caller) {
    const { execution, created } = await this.trigger(workflowId, request, caller);
    if (waitMs === undefined) return { execution, created, settled: !created };
    const result = TERMINAL_STATES.has(execution.state) ? execution : await this.wait(execution.id, waitMs);
    return { execution: result, created, settled: !created || TERMINAL_STATES.has(result.state) };
  }

  private async visible(id: string, caller?: Caller): Promise<ExecutionRecord> {
    const scope = caller?.namespaces;
    const execution = await this.store.executions.getExecution(id);
    if (!execution || !namespaceAllowed(execution.namespace, scope)) throw new NotFoundError('execution', id);
    return execution;
  }

  async get(id: string, caller?: Caller): Promise<ExecutionDetail> {
    const execution = await this.visible(id, caller);
    const taskRuns = await this.store.executions.listTaskRuns(id);
    if (!TERMINAL_STATES.has(execution.state)) execution.outputs = liveOutputs(taskRuns);
    return { execution: this.present(execution), taskRuns };
  }

  async list(query: { limit: number; offset: number; workflowId?: string; namespace?: string; state?: string }, caller?: Caller) {
    if (query.state !== undefined && !EXECUTION_STATES.includes(query.state as ExecutionState)) {
      throw new ValidationError([{ field: 'state', message: `must be one of ${EXECUTION_STATES.join(', ')}` }]);
    }
    const page = await this.store.executions.listExecutions({ ...query, state: query.state as ExecutionState | undefined, namespaces: caller?.namespaces });
    return { items: page.items.map((e) => this.present(e)), hasMore: page.hasMore };
  }

  /**
   * QUEUED → CANCELLED at once; RUNNING → CANCELLING, and the owner aborts its tasks (at once
   * when it is this process, within the cancel poll otherwise). Terminal → 409, nothing changes.
   */
  async cancel(id: string, caller?: Caller): Promise<ExecutionRecord> {
    const execution = await this.visible(id, caller);
    if (TERMINAL_STATES.has(execution.state)) {
      throw new ConflictError('EXECUTION_FINISHED', `execution ${id} already ended ${execution.state}; terminal states are final`);
    }
    const now = this.now();
    if (!(await this.store.executions.cancelQueued(id, now))) {
      if (await this.store.executions.requestCancel(id, now)) {
        this.pool.abortLocal(id, new StopReason('CANCELLED', 'cancelled'));
      } else {
        const state = await this.store.executions.getExecutionState(id);
        if (state !== null && TERMINAL_STATES.has(state)) {
          throw new ConflictError('EXECUTION_FINISHED', `execution ${id} already ended ${state}; terminal states are final`);
        }
      }
    } else {
      this.events?.executionFinished(execution.workflowId, 'CANCELLED', null);
      this.notifyFinished(id);
    }
    if (caller) this.audit?.record(caller, { action: 'execution.cancel', resourceType: 'execution', resourceId: id, namespace: execution.namespace });
    return this.present((await this.store.executions.getExecution(id))!);
  }

  /** Resolves with the execution once terminal, or as it is when `timeoutMs` runs out. */
  async wait(id: string, timeoutMs: number, signal?: AbortSignal): Promise<ExecutionRecord> {
    const deadline = this.now() + timeoutMs;
    for (;;) {
      const execution = await this.store.executions.getExecution(id);
      if (!execution) throw new NotFoundError('execution', id);
      if (TERMINAL_STATES.has(execution.state) || this.now() >= deadline || signal?.aborted) return this.present(execution);
      // Woken by this process's workers, or by polling when another process runs it.
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.finished.off(id, done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(WAIT_POLL_MS, Math.max(0, deadline - this.now())));
        this.finished.on(id, done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  async logs(
    id: string,
    query: { limit: number; offset: number; level?: LogLevelName; taskId?: string; before?: number; after?: number },
    caller?: Caller,
  ): Promise<{ items: LogLine[]; hasMore: boolean }> {
    await this.visible(id, caller);
    return this.store.executions.queryLogs({ executionId: id, limit: query.limit, offset: query.offset, minLevel: query.level, taskId: query.taskId, before: query.before, after: query.after });
  }

  /**
   * Follows an execution's log (oldest first, after the cursor), then its end: see followLogs.
   * Visibility is checked here, before anything is streamed, so a foreign or missing execution
   * is the same NOT_FOUND as for `logs`. A draining engine takes no new followers.
   */
  async follow(id: string, query: FollowQuery, options: FollowOptions = {}, caller?: Caller): Promise<AsyncGenerator<FollowEvent, void, undefined>> {
    await this.visible(id, caller);
    const notices: FollowNotices = {
      onLogs: this.logNotices?.onLogs ?? (() => () => undefined),
      drained: this.logNotices?.drained ?? new AbortController().signal,
      onFinished: (executionId, fn) => {
        this.finished.on(executionId, fn);
        return () => this.finished.off(executionId, fn);
      },
    };
    if (notices.drained.aborted) throw new NotReadyError('this server is shutting down; reconnect (another replica will serve the stream)');
    return followLogs(this.store, id, query, notices, options);
  }

  // ---- SubflowLauncher ------------------------------------------------------------------------

  /**
   * A subflow may start only workflows of its own namespace or below it (`team.a` calls
   * `team.a` and `team.a.jobs`). Otherwise a team could run another team's workflow with
   * inputs of its choosing, and through it use that team's secrets. Outside that tree the
   * target is "not found", exactly like a missing workflow.
   */
  async start(parent: ExecutionRecord, task: SubflowTask, inputs: Record<string, unknown>, idempotencyKey: string): Promise<string> {
    await this.workflows.current(task.workflowId, { actor: 'subflow', namespaces: [parent.namespace, `${parent.namespace}.*`] }).catch((error: unknown) => {
      if (!(error instanceof NotFoundError)) throw error;
      throw new TaskFailure(
        `workflow '${task.workflowId}' not found (a subflow starts workflows of its own namespace '${parent.namespace}' or below it)`,
        'SUBFLOW_FAILED',
      );
    });
    const { execution } = await this.trigger(
      task.workflowId,
      { inputs, idempotencyKey, trigger: { type: 'subflow', id: parent.id } },
      undefined,
      parent.depth + 1,
      parent.id,
    ).catch((error: unknown) => {
      if (error instanceof EngineError && error.code === 'IDEMPOTENCY_KEY_REUSED') {
        throw new EngineError('SUBFLOW_FAILED', 'the subflow inputs changed since it was first started');
      }
      throw error;
    });
    return execution.id;
  }

  async waitForEnd(childId: string, signal: AbortSignal): Promise<ExecutionRecord> {
    for (;;) {
      const execution = await this.wait(childId, 60_000, signal);
      if (TERMINAL_STATES.has(execution.state)) return execution;
      if (signal.aborted) {
        const stop = signal.reason as StopReason;
        // Cancel (or timeout) of the parent cancels the child; a shutdown leaves it running.
        if (stop?.kind !== 'SHUTDOWN' && stop?.kind !== 'LEASE_LOST') await this.cancel(childId).catch(() => undefined);
        throw signal.reason;
      }
    }
  }
}

/** taskId → outputs of the latest successful attempt, for an execution still running. */
export function liveOutputs(taskRuns: readonly TaskRunRecord[]): Record<string, unknown> {
  const outputs: Record<string, unknown> = {};
  for (const run of taskRuns) {
    if (run.state === 'SUCCESS' && run.outputs !== null && run.iteration === null) outputs[run.taskId] = run.outputs;
  }
  return outputs;
}

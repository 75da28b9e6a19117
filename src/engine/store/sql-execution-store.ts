import { encodeTime } from 'ulidx';
import { fromJson, toJson, toMillis, toMillisOrNull, type SqlClient, type SqlParam, type SqlStatement } from './sql-client';
import { SqlListQuery } from './sql-list-query';
import { crashLoopError, crashRecoveryNote, type CrashSite } from '../runtime/crash-loop';
import { LOG_LEVELS, type ExecutionListQuery, type ExecutionRecord, type Fence, type LogLevelName, type LogLine, type LogQuery, type NewExecution, type NewLogLine, type ScheduleTriggerRow, type TaskRunRecord, type ExecutionError } from './execution-types';
import { type ExecutionState, type TaskRunState, ACTIVE_STATE_LIST, TERMINAL_STATE_LIST, sqlStateList, type TerminalState } from '../execution-state';

type Row = Record<string, unknown>;

export interface CrashLoopedExecution {
  id: string;
  workflowId: string;
  namespace: string;
  error: ExecutionError;
}

export interface RecoveryResult {
  requeued: string[];
  cancelled: string[];
  /** ended FAILED with kind CRASH_LOOP instead of being re-queued once more */
  crashLooped: CrashLoopedExecution[];
}

export interface ProgressOptions {
  /** the write records progress of an execution recovered since its last progress: reset its crash count */
  resetCrashCount?: boolean;
}

/**
 * PostgreSQL's clock in epoch milliseconds, read per statement (`clock_timestamp()`, not the
 * transaction's start). Leases are granted and checked against it on PostgreSQL, so replicas
 * whose clocks disagree still agree on who holds a lease.
 */
const DB_NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

const LEVEL_NAMES = Object.fromEntries(Object.entries(LOG_LEVELS).map(([name, value]) => [value, name])) as Record<number, LogLevelName>;

function toExecution(row: Row): ExecutionRecord {
  return {
    id: row.id as string,
    workflowId: row.workflow_id as string,
    namespace: row.namespace as string,
    revision: Number(row.revision),
    state: row.state as ExecutionState,
    inputs: fromJson(row.inputs),
    labels: fromJson(row.labels),
    trigger: fromJson(row.trigger),
    outputs: row.outputs === null ? null : fromJson(row.outputs),
    // undefined: a row read before the column existed (never after migrations), or a partial select
    workflowOutputs: row.workflow_outputs == null ? null : fromJson(row.workflow_outputs),
    error: row.error === null ? null : fromJson(row.error),
    history: fromJson(row.history),
    createdAt: toMillis(row.created_at),
    startedAt: toMillisOrNull(row.started_at),
    endedAt: toMillisOrNull(row.ended_at),
    owner: (row.owner as string | null) ?? null,
    leaseExpiresAt: toMillisOrNull(row.lease_expires_at),
    attempt: Number(row.attempt),
    cancelRequested: Number(row.cancel_requested) === 1,
    crashRecoveries: Number(row.crash_recoveries ?? 0),
    concurrencyLimit: row.concurrency_limit === null ? null : Number(row.concurrency_limit),
    timeoutMs: toMillisOrNull(row.timeout_ms),
    parentExecutionId: (row.parent_execution_id as string | null) ?? null,
    depth: Number(row.depth),
    idempotencyKey: (row.idempotency_key as string | null) ?? null,
    idempotencyHash: (row.idempotency_hash as string | null) ?? null,
  };
}

function toTaskRun(row: Row): TaskRunRecord {
  return {
    id: row.id as string,
    executionId: row.execution_id as string,
    taskId: row.task_id as string,
    taskKey: row.task_key as string,
    parentTaskRunId: (row.parent_task_run_id as string | null) ?? null,
    iteration: row.iteration === null ? null : Number(row.iteration),
    attempt: Number(row.attempt),
    state: row.state as TaskRunState,
    startedAt: toMillis(row.started_at),
    endedAt: toMillisOrNull(row.ended_at),
    outputs: row.outputs === null ? null : fromJson(row.outputs),
    error: row.error === null ? null : fromJson(row.error),
  };
}

function toLogLine(row: Row): LogLine {
  return {
    id: Number(row.id),
    executionId: row.execution_id as string,
    taskId: (row.task_id as string | null) ?? null,
    taskRunId: (row.task_run_id as string | null) ?? null,
    attempt: row.attempt === null ? null : Number(row.attempt),
    level: LEVEL_NAMES[Number(row.level)] ?? 'INFO',
    ts: toMillis(row.ts),
    message: row.message as string,
  };
}

const ACTIVE = sqlStateList(ACTIVE_STATE_LIST);
const TERMINAL = sqlStateList(TERMINAL_STATE_LIST);

/**
 * The runtime's persistence: executions (queue + state machine), task runs, logs, schedules.
 * Every write a worker makes after claiming is fenced on (owner, attempt) and on a non-terminal
 * state, in the same statement: a stale worker's late write changes nothing, and terminal
 * states are final for every writer.
 */
export class SqlExecutionStore {
  constructor(private readonly db: SqlClient) {}

  /** SQL appending `{state, at}` to the JSON history column (the only dialect-specific bit). */
  private appendHistory(): string {
    return this.db.dialect === 'postgresql'
      ? `(history::jsonb || jsonb_build_array(jsonb_build_object('state', ?::text, 'at', ?::bigint)))::text`
      : `json_insert(history, '$[#]', json_object('state', ?, 'at', ?))`;
  }

  private fenceSql(): string {
    return `exists (select 1 from executions f where f.id = ? and f.owner = ? and f.attempt = ? and f.state in ${ACTIVE})`;
  }

  private fenceParams(fence: Fence): SqlParam[] {
    return [fence.executionId, fence.owner, fence.attempt];
  }

  // ---- executions -------------------------------------------------------------------------

  /** Inserts a QUEUED execution; with an idempotency key already used, returns the first one instead. */
  async insertExecution(e: NewExecution): Promise<{ created: boolean; execution: ExecutionRecord }> {
    const changed = await this.db.run(
      `insert into executions (id, workflow_id, namespace, revision, state, inputs, labels, trigger, history, created_at,
         concurrency_limit, timeout_ms, parent_execution_id, depth, idempotency_key, idempotency_hash)
       values (?, ?, ?, ?, 'QUEUED', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict do nothing`,
      [
        e.id,
        e.workflowId,
        e.namespace,
        e.revision,
        toJson(e.inputs),
        toJson(e.labels),
        toJson(e.trigger),
        toJson([{ state: 'QUEUED', at: e.createdAt }]),
        e.createdAt,
        e.concurrencyLimit,
        e.timeoutMs,
        e.parentExecutionId,
        e.depth,
        e.idempotencyKey,
        e.idempotencyHash,
      ],
    );
    if (changed > 0) {
      return {
        created: true,
        execution: {
          ...e,
          state: 'QUEUED',
          outputs: null,
          workflowOutputs: null,
          error: null,
          history: [{ state: 'QUEUED', at: e.createdAt }],
          startedAt: null,
          endedAt: null,
          owner: null,
          leaseExpiresAt: null,
          attempt: 0,
          cancelRequested: false,
          crashRecoveries: 0,
        },
      };
    }
    if (e.idempotencyKey !== null) {
      const existing = await this.findByIdempotencyKey(e.workflowId, e.idempotencyKey);
      if (existing) return { created: false, execution: existing };
    }
    throw new Error(`execution id collision: ${e.id}`);
  }

  async findByIdempotencyKey(workflowId: string, key: string): Promise<ExecutionRecord | null> {
    const row = await this.db.get<Row>('select * from executions where workflow_id = ? and idempotency_key = ?', [workflowId, key]);
    return row ? toExecution(row) : null;
  }

  async getExecution(id: string): Promise<ExecutionRecord | null> {
    const row = await this.db.get<Row>('select * from executions where id = ?', [id]);
    return row ? toExecution(row) : null;
  }

  async getExecutionState(id: string): Promise<ExecutionState | null> {
    const row = await this.db.get<{ state: ExecutionState }>('select state from executions where id = ?', [id]);
    return row?.state ?? null;
  }

  listExecutions(query: ExecutionListQuery): Promise<{ items: ExecutionRecord[]; hasMore: boolean }> {
    return new SqlListQuery()
      .filter('workflow_id = ?', query.workflowId)
      .filter('namespace = ?', query.namespace)
      .filter('state = ?', query.state)
      .namespaces('namespace', query.namespaces)
      .page(this.db, 'select * from executions', 'id desc', query, toExecution);
  }

  /**
   * Claims the oldest QUEUED execution whose workflow is under its concurrency limit, in one
   * statement (atomic on SQLite, even across processes sharing the file: one writer at a time).
   * PostgreSQL needs more than one statement for the same guarantee: see claimNextPostgres.
   * `suspects: false` skips executions recovered from a crash since their last progress.
   */
  async claimNext(owner: string, leaseExpiresAt: number, now: number, options: { suspects?: boolean } = {}): Promise<ExecutionRecord | null> {
    if (this.db.dialect === 'postgresql') return this.claimNextPostgres(owner, leaseExpiresAt, now, options);
    const rows = await this.db.all<Row>(
      `update executions set state = 'RUNNING', owner = ?, lease_expires_at = ?, attempt = attempt + 1,
              started_at = coalesce(started_at, ?), history = ${this.appendHistory()}
        where id = (
          select e.id from executions e
           where e.state = 'QUEUED'
             and (e.crash_recoveries = 0 or ? = 1)
             and (e.concurrency_limit is null or
                  (select count(*) from executions r where r.workflow_id = e.workflow_id and r.state in ${ACTIVE}) < e.concurrency_limit)
           order by e.id limit 1
        ) and state = 'QUEUED'
        returning *`,
      [owner, leaseExpiresAt, now, 'RUNNING', now, options.suspects === false ? 0 : 1],
    );
    return rows[0] ? toExecution(rows[0]) : null;
  }

  /** The queue's depth, for metrics (an index range scan on (state, id)). */
  async countQueued(): Promise<number> {
    const row = await this.db.get<{ n: number | string }>(`select count(*) as n from executions where state = 'QUEUED'`);
    return Number(row?.n ?? 0);
  }

  /**
   * PostgreSQL: under READ COMMITTED the count in SQLite's one-statement claim does not see
   * another replica's claim that is not committed yet, so two replicas could both start the
   * last free slot (issue 9: 9 RUNNING with `limit: 1`). Here the candidate row is locked
   * (`skip locked`: replicas take different rows), and for a limited workflow a transaction-
   * scoped advisory lock on the workflow serializes the count-then-start: whoever gets it next
   * counts in a fresh snapshot that includes the previous holder's committed claim. A workflow
   * found full is skipped and the next candidate tried, so one full workflow never blocks others.
   */
  private async claimNextPostgres(owner: string, leaseExpiresAt: number, now: number, options: { suspects?: boolean }): Promise<ExecutionRecord | null> {
    const full: string[] = [];
    for (let round = 0; round < 8; round++) {
      const outcome = await this.db.transaction(async (tx) => {
        const excluded = full.length > 0 ? `and e.workflow_id not in (${full.map(() => '?').join(', ')})` : '';
        const candidate = await tx.get<{ id: string; workflow_id: string; concurrency_limit: unknown }>(
          `select e.id, e.workflow_id, e.concurrency_limit from executions e
            where e.state = 'QUEUED' and (e.crash_recoveries = 0 or ? = 1) ${excluded}
              and (e.concurrency_limit is null or
                   (select count(*) from executions r where r.workflow_id = e.workflow_id and r.state in ${ACTIVE}) < e.concurrency_limit)
            order by e.id limit 1 for update of e skip locked`,
          [options.suspects === false ? 0 : 1, ...full],
        );
        if (!candidate) return { kind: 'none' as const };
        if (candidate.concurrency_limit !== null) {
          await tx.run('select pg_advisory_xact_lock(hashtext(?))', [`autokestra:concurrency:${candidate.workflow_id}`]);
          const active = await tx.get<{ n: unknown }>(`select count(*) as n from executions where workflow_id = ? and state in ${ACTIVE}`, [
            candidate.workflow_id,
          ]);
          if (Number(active?.n) >= Number(candidate.concurrency_limit)) return { kind: 'full' as const, workflowId: candidate.workflow_id };
          // Oldest first within a limited workflow: an older QUEUED execution was skipped above
          // only because another claim holds it (and waits for this lock); it goes first.
          const older = await tx.get<{ x: unknown }>(
            `select 1 as x from executions where workflow_id = ? and state = 'QUEUED' and id < ? and (crash_recoveries = 0 or ? = 1) limit 1`,
            [candidate.workflow_id, candidate.id, options.suspects === false ? 0 : 1],
          );
          if (older) return { kind: 'full' as const, workflowId: candidate.workflow_id };
        }
        // The caller's `now` was read before this claim waited for a connection and the lock:
        // start the clock here, so a run never starts before the one it waited for ended.
        const startedAt = Math.max(now, Date.now());
        // The lease runs on the database's clock, from this moment (see DB_NOW_MS).
        const rows = await tx.all<Row>(
          `update executions set state = 'RUNNING', owner = ?, lease_expires_at = ${DB_NOW_MS} + ?, attempt = attempt + 1,
                  started_at = coalesce(started_at, ?), history = ${this.appendHistory()}
            where id = ? and state = 'QUEUED' returning *`,
          [owner, leaseExpiresAt - now, startedAt, 'RUNNING', startedAt, candidate.id],
        );
        return rows[0] ? { kind: 'claimed' as const, execution: toExecution(rows[0]) } : { kind: 'none' as const };
      });
      if (outcome.kind === 'claimed') return outcome.execution;
      if (outcome.kind === 'none') return null;
      full.push(outcome.workflowId);
    }
    return null;
  }

  /**
   * Heartbeat: extends the lease of everything this owner runs to `leaseMs` from now — the
   * database's now on PostgreSQL, the caller's on SQLite (one host, one clock).
   */
  renewLeases(owner: string, leaseMs: number, now: number): Promise<number> {
    if (this.db.dialect === 'postgresql') {
      return this.db.run(`update executions set lease_expires_at = ${DB_NOW_MS} + ? where state in ${ACTIVE} and owner = ?`, [leaseMs, owner]);
    }
    return this.db.run(`update executions set lease_expires_at = ? where state in ${ACTIVE} and owner = ?`, [now + leaseMs, owner]);
  }

  /** Executions of this owner that someone asked to cancel (possibly through another process). */
  async cancellingOwnedBy(owner: string): Promise<string[]> {
    const rows = await this.db.all<{ id: string }>(`select id from executions where owner = ? and state = 'CANCELLING'`, [owner]);
    return rows.map((r) => r.id);
  }

  async activeOwners(): Promise<string[]> {
    const rows = await this.db.all<{ owner: string }>(`select distinct owner from executions where state in ${ACTIVE} and owner is not null`);
    return rows.map((r) => r.owner);
  }

  /**
   * Gives up on executions whose owner is gone: RUNNING ones go back to the queue (they resume
   * at their first unfinished task), CANCELLING ones end CANCELLED. `owner` = one dead owner;
   * otherwise every expired lease.
   *
   * Each re-queue counts as a crash recovery. The recovery that would make an execution reach
   * `crashLoopLimit` recoveries without progress ends it FAILED with `kind: CRASH_LOOP` instead
   * (its open task runs are closed with the same error): a poison pill is not re-run for ever.
   */
  async recoverAbandoned(now: number, options: { owner?: string; crashLoopLimit: number }): Promise<RecoveryResult> {
    const { owner, crashLoopLimit } = options;
    return this.db.transaction(async (tx) => {
      // Expiry compares with the database's clock on PostgreSQL: a replica whose clock runs fast
      // would otherwise take live leases, and one that runs slow would keep dead ones. The param
      // is then a no-op placeholder so both conditions bind the same list.
      const pgClock = this.db.dialect === 'postgresql';
      const condition = owner !== undefined ? 'owner = ?' : pgClock ? `lease_expires_at < ${DB_NOW_MS} and ? = 0` : 'lease_expires_at < ?';
      const param = owner !== undefined ? owner : pgClock ? 0 : now;
      const cancelled = await tx.all<{ id: string }>(
        `update executions set state = 'CANCELLED', ended_at = ?, owner = null, lease_expires_at = null,
                error = ?, history = ${this.appendHistory()}
          where state = 'CANCELLING' and ${condition} returning id`,
        [now, toJson({ message: 'cancelled', taskId: null, kind: 'CANCELLED' }), 'CANCELLED', now, param],
      );
      for (const { id } of cancelled) {
        await tx.run(`update task_runs set state = 'CANCELLED', ended_at = ? where execution_id = ? and state = 'RUNNING'`, [now, id]);
      }

      const crashLooped: CrashLoopedExecution[] = [];
      const poisoned = await tx.all<Row>(
        `select id, workflow_id, namespace, crash_recoveries, crash_site from executions
          where state = 'RUNNING' and ${condition} and crash_recoveries + 1 >= ?`,
        [param, crashLoopLimit],
      );
      for (const row of poisoned) {
        const id = row.id as string;
        const deaths = Number(row.crash_recoveries) + 1;
        const site = row.crash_site === null ? await this.lastRunningTask(tx, id) : fromJson<CrashSite>(row.crash_site);
        const error = crashLoopError(deaths, site);
        const outputs = await this.completedOutputs(tx, id);
        // Same guards as the select (and the state) in the write itself: terminal states stay final.
        const changed = await tx.run(
          `update executions set state = 'FAILED', ended_at = ?, owner = null, lease_expires_at = null, error = ?, outputs = ?,
                  crash_recoveries = crash_recoveries + 1, history = ${this.appendHistory()}
            where id = ? and state = 'RUNNING' and ${condition} and crash_recoveries + 1 >= ?`,
          [now, toJson(error), toJson(outputs), 'FAILED', now, id, param, crashLoopLimit],
        );
        if (changed === 0) continue;
        await tx.run(`update task_runs set state = 'FAILED', ended_at = ?, error = ? where execution_id = ? and state = 'RUNNING'`, [
          now,
          toJson(error),
          id,
        ]);
        for (const statement of this.logStatements([
          { executionId: id, taskId: null, taskRunId: null, attempt: null, level: 'ERROR', ts: now, message: `execution FAILED: ${error.message}` },
        ])) {
          await tx.run(statement.sql, statement.params);
        }
        crashLooped.push({ id, workflowId: row.workflow_id as string, namespace: row.namespace as string, error });
      }

      const requeued = await tx.all<{ id: string; crash_recoveries: number }>(
        `update executions set state = 'QUEUED', owner = null, lease_expires_at = null, crash_recoveries = crash_recoveries + 1,
                history = ${this.appendHistory()}
          where state = 'RUNNING' and ${condition} and crash_recoveries + 1 < ? returning id, crash_recoveries`,
        ['QUEUED', now, param, crashLoopLimit],
      );
      const notes: NewLogLine[] = requeued.map((r) => ({
        executionId: r.id,
        taskId: null,
        taskRunId: null,
        attempt: null,
        level: 'WARN',
        ts: now,
        message: crashRecoveryNote(Number(r.crash_recoveries), crashLoopLimit),
      }));
      for (const statement of this.logStatements(notes)) await tx.run(statement.sql, statement.params);
      return { requeued: requeued.map((r) => r.id), cancelled: cancelled.map((r) => r.id), crashLooped };
    });
  }

  /**
   * The execution outputs of an execution no runner ends: taskId → outputs of the tasks that
   * completed (outside foreach iterations), as the API shows them while it runs. Stored task
   * outputs are already masked.
   */
  private async completedOutputs(tx: SqlClient, executionId: string): Promise<Record<string, unknown>> {
    const rows = await tx.all<{ task_id: string; outputs: string }>(
      `select task_id, outputs from task_runs where execution_id = ? and state = 'SUCCESS' and iteration is null and outputs is not null order by id`,
      [executionId],
    );
    const outputs: Record<string, unknown> = {};
    for (const row of rows) {
      const value = fromJson(row.outputs);
      if (value !== null) outputs[row.task_id] = value;
    }
    return outputs;
  }

  /**
   * Where a first-time crash happened, when nothing better was recorded: the newest task run
   * still RUNNING (the deepest open task), with its attempt in `retry.maxAttempts` terms.
   */
  private async lastRunningTask(tx: SqlClient, executionId: string): Promise<CrashSite | null> {
    const open = await tx.get<{ task_id: string; task_key: string }>(
      `select task_id, task_key from task_runs where execution_id = ? and state = 'RUNNING' order by id desc limit 1`,
      [executionId],
    );
    if (!open) return null;
    const runs = await tx.all<{ state: string; error: string | null }>(`select state, error from task_runs where execution_id = ? and task_key = ?`, [
      executionId,
      open.task_key,
    ]);
    const failures = runs.filter((r) => r.state === 'FAILED' && (r.error === null || fromJson<ExecutionError>(r.error).kind !== 'INTERRUPTED')).length;
    return { taskId: open.task_id, attempt: failures + 1 };
  }

  /**
   * Marks what an execution already recovered from a crash is about to run, so that if the
   * process dies again the crash-loop error can name it. Only suspects pay this write.
   */
  async recordCrashSite(fence: Fence, site: CrashSite): Promise<boolean> {
    const changed = await this.db.run(
      `update executions set crash_site = ? where id = ? and owner = ? and attempt = ? and state in ${ACTIVE}`,
      [toJson(site), ...this.fenceParams(fence)],
    );
    return changed > 0;
  }

  /** Rides along the first progress write after a claim of a recovered execution: the count starts over. */
  private resetCrashCountStatement(fence: Fence): SqlStatement {
    return {
      sql: `update executions set crash_recoveries = 0, crash_site = null where id = ? and owner = ? and attempt = ? and state in ${ACTIVE}`,
      params: this.fenceParams(fence),
    };
  }

  /** Ends an execution the caller owns (with its last log lines); false when the fence no longer holds. */
  async finishExecution(
    fence: Fence,
    state: TerminalState,
    outputs: Record<string, unknown> | null,
    error: ExecutionError | null,
    now: number,
    lines: readonly NewLogLine[] = [],
    /** the declared outputs' values (SUCCESS with `outputs:` declared), else null */
    workflowOutputs: Record<string, unknown> | null = null,
  ): Promise<boolean> {
    const finish: SqlStatement = {
      sql: `update executions set state = ?, outputs = ?, workflow_outputs = ?, error = ?, ended_at = ?, owner = null, lease_expires_at = null,
              history = ${this.appendHistory()}
        where id = ? and owner = ? and attempt = ? and state in ${ACTIVE}`,
      params: [
        state,
        toJson(outputs),
        workflowOutputs === null ? null : toJson(workflowOutputs),
        error === null ? null : toJson(error),
        now,
        state,
        now,
        fence.executionId,
        fence.owner,
        fence.attempt,
      ],
    };
    const changes = await this.db.writeBatch([...this.logStatements(lines), finish]);
    return changes[changes.length - 1] > 0;
  }

  /** Shutdown: hands a running execution back to the queue with its progress kept. */
  async releaseExecution(fence: Fence, now: number): Promise<boolean> {
    const changed = await this.db.run(
      `update executions set state = 'QUEUED', owner = null, lease_expires_at = null, history = ${this.appendHistory()}
        where id = ? and owner = ? and attempt = ? and state = 'RUNNING'`,
      ['QUEUED', now, fence.executionId, fence.owner, fence.attempt],
    );
    return changed > 0;
  }

  /** QUEUED → CANCELLED at once. */
  async cancelQueued(id: string, now: number): Promise<boolean> {
    const changed = await this.db.run(
      `update executions set state = 'CANCELLED', cancel_requested = 1, ended_at = ?, error = ?, history = ${this.appendHistory()}
        where id = ? and state = 'QUEUED'`,
      [now, toJson({ message: 'cancelled before it started', taskId: null, kind: 'CANCELLED' }), 'CANCELLED', now, id],
    );
    return changed > 0;
  }

  /** RUNNING → CANCELLING; the owner aborts its tasks and ends it CANCELLED. */
  async requestCancel(id: string, now: number): Promise<boolean> {
    const changed = await this.db.run(
      `update executions set state = 'CANCELLING', cancel_requested = 1, history = ${this.appendHistory()}
        where id = ? and state = 'RUNNING'`,
      ['CANCELLING', now, id],
    );
    return changed > 0;
  }

  // ---- task runs ----------------------------------------------------------------------------

  /**
   * Writes a task run, and the log lines buffered so far, atomically: one commit instead of
   * two, and a finished task's lines are durable with its state. False when fenced out.
   */
  async insertTaskRun(fence: Fence, run: TaskRunRecord, lines: readonly NewLogLine[] = [], options: ProgressOptions = {}): Promise<boolean> {
    const reset = options.resetCrashCount ? [this.resetCrashCountStatement(fence)] : [];
    const changes = await this.db.writeBatch([...this.logStatements(lines), ...reset, this.insertTaskRunStatement(fence, run)]);
    return changes[changes.length - 1] > 0;
  }

  private insertTaskRunStatement(fence: Fence, run: TaskRunRecord): SqlStatement {
    return {
      sql: `insert into task_runs (id, execution_id, task_id, task_key, parent_task_run_id, iteration, attempt, state, started_at, ended_at, outputs, error, worker)
       select ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? where ${this.fenceSql()}`,
      params: [
        run.id,
        run.executionId,
        run.taskId,
        run.taskKey,
        run.parentTaskRunId,
        run.iteration,
        run.attempt,
        run.state,
        run.startedAt,
        run.endedAt,
        run.outputs === null || run.outputs === undefined ? null : toJson(run.outputs),
        run.error === null ? null : toJson(run.error),
        fence.owner,
        ...this.fenceParams(fence),
      ],
    };
  }

  async updateTaskRun(
    fence: Fence,
    id: string,
    patch: { state: TaskRunState; endedAt?: number | null; outputs?: unknown; error?: ExecutionError | null },
    lines: readonly NewLogLine[] = [],
    options: ProgressOptions = {},
  ): Promise<boolean> {
    const update: SqlStatement = {
      sql: `update task_runs set state = ?, ended_at = ?, outputs = ?, error = ? where id = ? and ${this.fenceSql()}`,
      params: [
        patch.state,
        patch.endedAt ?? null,
        patch.outputs === undefined || patch.outputs === null ? null : toJson(patch.outputs),
        patch.error ? toJson(patch.error) : null,
        id,
        ...this.fenceParams(fence),
      ],
    };
    const reset = options.resetCrashCount ? [this.resetCrashCountStatement(fence)] : [];
    const changes = await this.db.writeBatch([...this.logStatements(lines), ...reset, update]);
    return changes[changes.length - 1] > 0;
  }

  async listTaskRuns(executionId: string): Promise<TaskRunRecord[]> {
    const rows = await this.db.all<Row>('select * from task_runs where execution_id = ? order by id', [executionId]);
    return rows.map(toTaskRun);
  }

  // ---- logs ---------------------------------------------------------------------------------

  /** One multi-row insert per chunk, all in one transaction: batching is what makes ingest fast. */
  async appendLogs(lines: readonly NewLogLine[]): Promise<void> {
    if (lines.length === 0) return;
    await this.db.writeBatch(this.logStatements(lines));
  }

  /** Multi-row inserts of at most 200 lines each: batching is what makes ingest fast. */
  private logStatements(lines: readonly NewLogLine[]): SqlStatement[] {
    const CHUNK = 200;
    const statements: SqlStatement[] = [];
    for (let start = 0; start < lines.length; start += CHUNK) {
      const chunk = lines.slice(start, start + CHUNK);
      const params: SqlParam[] = [];
      for (const l of chunk) params.push(l.executionId, l.taskId, l.taskRunId, l.attempt, LOG_LEVELS[l.level], l.ts, l.message);
      statements.push({
        sql: `insert into logs (execution_id, task_id, task_run_id, attempt, level, ts, message) values ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
        params,
      });
    }
    return statements;
  }

  /**
   * Newest first. `before` pages backwards stably while lines arrive; `after` returns the
   * OLDEST `limit` lines newer than the cursor (still sorted newest first), so a tail poller
   * that moves its cursor to the page's highest id never skips a line.
   */
  async queryLogs(query: LogQuery): Promise<{ items: LogLine[]; hasMore: boolean }> {
    const list = new SqlListQuery().where('execution_id = ?', query.executionId);
    if (query.minLevel && query.minLevel !== 'DEBUG') list.where('level >= ?', LOG_LEVELS[query.minLevel]);
    list.filter('task_id = ?', query.taskId).filter('id < ?', query.before).filter('id > ?', query.after);
    const ascending = query.after !== undefined;
    const page = await list.page(this.db, 'select id, execution_id, task_id, task_run_id, attempt, level, ts, message from logs', ascending ? 'id asc' : 'id desc', query, toLogLine);
    if (ascending) page.items.reverse();
    return page;
  }

  /**
   * The highest id H in (after, upTo] such that every id in (after, H] is committed, whatever
   * the execution (`after` when id after + 1 is missing). On PostgreSQL ids come from one
   * sequence but concurrent transactions commit out of id order: a follower that moved its
   * cursor past a missing id could skip a line that commits a moment later. Looks at `limit`
   * ids at most (a primary-key range scan).
   */
  async contiguousLogIdsThrough(after: number, upTo: number, limit = 2000): Promise<number> {
    if (upTo <= after) return after;
    const rows = await this.db.all<{ id: number | string }>('select id from logs where id > ? and id <= ? order by id limit ?', [after, upTo, Math.min(limit, upTo - after)]);
    let expected = after + 1;
    for (const row of rows) {
      if (Number(row.id) !== expected) break;
      expected++;
    }
    return expected - 1;
  }

  // ---- schedules ----------------------------------------------------------------------------

  async listScheduleTriggers(): Promise<ScheduleTriggerRow[]> {
    const rows = await this.db.all<Row>(
      `select t.workflow_id, t.trigger_id, t.cron, t.timezone, t.inputs from workflow_triggers t
         join workflows w on w.id = t.workflow_id where w.enabled = 1`,
    );
    return rows.map((r) => ({
      workflowId: r.workflow_id as string,
      triggerId: r.trigger_id as string,
      cron: r.cron as string,
      timezone: r.timezone as string,
      inputs: fromJson(r.inputs),
    }));
  }

  /**
   * Records a schedule tick and creates its execution in one transaction; the primary key on
   * (workflow, trigger, tick) makes every tick fire once however many processes see it. The
   * workflow must still be enabled at that moment.
   */
  async fireSchedule(workflowId: string, triggerId: string, fireAt: number, execution: NewExecution): Promise<ExecutionRecord | null> {
    return this.db.transaction(async (tx) => {
      const inserted = await tx.run(
        `insert into schedule_fires (workflow_id, trigger_id, fire_at, execution_id)
         select ?, ?, ?, ? where exists (select 1 from workflows where id = ? and enabled = 1) on conflict do nothing`,
        [workflowId, triggerId, fireAt, execution.id, workflowId],
      );
      if (inserted === 0) return null;
      const store = new SqlExecutionStore(tx);
      return (await store.insertExecution(execution)).execution;
    });
  }

  // ---- retention ----------------------------------------------------------------------------

  /** Deletes finished executions older than `cutoff` with their task runs and logs, in batches. */
  async purgeFinishedBefore(cutoff: number, batchSize = 500): Promise<{ executions: number; logs: number }> {
    let executions = 0;
    let logs = 0;
    // ULIDs start with their creation time, so "created before the cutoff" is a key range.
    const idBound = encodeTime(cutoff, 10);
    for (;;) {
      const batch = await this.db.all<{ id: string }>(
        `select id from executions where id < ? and state in ${TERMINAL} and ended_at < ? limit ?`,
        [idBound, cutoff, batchSize],
      );
      if (batch.length === 0) break;
      const ids = batch.map((b) => b.id);
      const marks = ids.map(() => '?').join(', ');
      await this.db.transaction(async (tx) => {
        logs += await tx.run(`delete from logs where execution_id in (${marks})`, ids);
        await tx.run(`delete from task_runs where execution_id in (${marks})`, ids);
        executions += await tx.run(`delete from executions where id in (${marks})`, ids);
      });
      if (batch.length < batchSize) break;
    }
    await this.db.run('delete from schedule_fires where fire_at < ?', [cutoff]);
    return { executions, logs };
  }
}

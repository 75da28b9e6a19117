import { fromJson, toJson, toMillis, toMillisOrNull, type SqlClient, type SqlDialect, type SqlParam, type SqlStatement } from './sql-client';
import { SqlListQuery } from './sql-list-query';
import { logStatements } from './sql-logs';
import type { ExecutionError, ExecutionListQuery, ExecutionRecord, Fence, NewExecution, NewLogLine } from './execution-types';
import { type ExecutionState, ACTIVE_STATE_LIST, sqlStateList, type TerminalState } from '../execution-state';

type Row = Record<string, unknown>;

/** The active states as an SQL list (`state in ${ACTIVE}`): held by an owner, counted against concurrency limits. */
export const ACTIVE = sqlStateList(ACTIVE_STATE_LIST);

/** SQL appending `{state, at}` to the JSON history column (binds two `?`: the state, the time). */
const APPEND_HISTORY: Record<SqlDialect, string> = {
  postgresql: `(history::jsonb || jsonb_build_array(jsonb_build_object('state', ?::text, 'at', ?::bigint)))::text`,
  sqlite: `json_insert(history, '$[#]', json_object('state', ?, 'at', ?))`,
};

/** The only dialect-specific bit of a state change: every writer of `state` appends through it. */
export function appendHistory(dialect: SqlDialect): string {
  return APPEND_HISTORY[dialect];
}

/**
 * The fence of a write about an execution in another table (task runs): its owner and attempt
 * still hold it, and it is not terminal. In the same statement, so a stale worker's late write
 * changes nothing.
 */
export const FENCE_SQL = `exists (select 1 from executions f where f.id = ? and f.owner = ? and f.attempt = ? and f.state in ${ACTIVE})`;

/** The values of the fence's `?`s (FENCE_SQL, and the `id = ? and owner = ? and attempt = ?` of own-row writes). */
export function fenceParams(fence: Fence): SqlParam[] {
  return [fence.executionId, fence.owner, fence.claim];
}

export function toExecution(row: Row): ExecutionRecord {
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
    // the column predates the name: it counts claims (the fence), not task retries
    claim: Number(row.attempt),
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

/**
 * Execution rows: creating one (idempotency keys included: the key is a unique column of the
 * row, so the insert that loses to it reads the winner), reading and listing them, and the
 * state changes other than claiming and recovery (sql-execution-queue.ts, sql-recovery.ts).
 * Every write of the owner is fenced on (owner, attempt) and a non-terminal state in the same
 * statement: terminal states are final for every writer.
 */
export class SqlExecutions {
  constructor(private readonly db: SqlClient) {}

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
          claim: 0,
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
              history = ${appendHistory(this.db.dialect)}
        where id = ? and owner = ? and attempt = ? and state in ${ACTIVE}`,
      params: [
        state,
        toJson(outputs),
        workflowOutputs === null ? null : toJson(workflowOutputs),
        error === null ? null : toJson(error),
        now,
        state,
        now,
        ...fenceParams(fence),
      ],
    };
    const changes = await this.db.writeBatch([...logStatements(lines), finish]);
    return changes[changes.length - 1] > 0;
  }

  /** Shutdown: hands a running execution back to the queue with its progress kept. */
  async releaseExecution(fence: Fence, now: number): Promise<boolean> {
    const changed = await this.db.run(
      `update executions set state = 'QUEUED', owner = null, lease_expires_at = null, history = ${appendHistory(this.db.dialect)}
        where id = ? and owner = ? and attempt = ? and state = 'RUNNING'`,
      ['QUEUED', now, ...fenceParams(fence)],
    );
    return changed > 0;
  }

  /** QUEUED → CANCELLED at once. */
  async cancelQueued(id: string, now: number): Promise<boolean> {
    const changed = await this.db.run(
      `update executions set state = 'CANCELLED', cancel_requested = 1, ended_at = ?, error = ?, history = ${appendHistory(this.db.dialect)}
        where id = ? and state = 'QUEUED'`,
      [now, toJson({ message: 'cancelled before it started', taskId: null, kind: 'CANCELLED' }), 'CANCELLED', now, id],
    );
    return changed > 0;
  }

  /** RUNNING → CANCELLING; the owner aborts its tasks and ends it CANCELLED. */
  async requestCancel(id: string, now: number): Promise<boolean> {
    const changed = await this.db.run(
      `update executions set state = 'CANCELLING', cancel_requested = 1, history = ${appendHistory(this.db.dialect)}
        where id = ? and state = 'RUNNING'`,
      ['CANCELLING', now, id],
    );
    return changed > 0;
  }
}

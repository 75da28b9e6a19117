import { fromJson, toJson, type SqlClient, type SqlStatement } from './sql-client';
import { DB_NOW_MS } from './sql-execution-queue';
import { ACTIVE, appendHistory, fenceParams } from './sql-executions';
import { logStatements } from './sql-logs';
import { crashLoopError, crashRecoveryNote, type CrashSite } from '../runtime/crash-loop';
import type { ExecutionError, Fence, NewLogLine } from './execution-types';

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

/**
 * Rides along the first progress write after a claim of a recovered execution (sql-task-runs.ts):
 * the crash count starts over.
 */
export function resetCrashCountStatement(fence: Fence): SqlStatement {
  return {
    sql: `update executions set crash_recoveries = 0, crash_site = null where id = ? and owner = ? and attempt = ? and state in ${ACTIVE}`,
    params: fenceParams(fence),
  };
}

/**
 * Recovery from dead owners (runtime/crash-loop.ts): expired or abandoned leases, the crash
 * count of each execution re-queued without progress, and where it crashed.
 */
export class SqlRecovery {
  constructor(private readonly db: SqlClient) {}

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
    const history = appendHistory(this.db.dialect);
    return this.db.transaction(async (tx) => {
      // Expiry compares with the database's clock on PostgreSQL: a replica whose clock runs fast
      // would otherwise take live leases, and one that runs slow would keep dead ones. The param
      // is then a no-op placeholder so both conditions bind the same list.
      const pgClock = this.db.dialect === 'postgresql';
      const condition = owner !== undefined ? 'owner = ?' : pgClock ? `lease_expires_at < ${DB_NOW_MS} and ? = 0` : 'lease_expires_at < ?';
      const param = owner !== undefined ? owner : pgClock ? 0 : now;
      const cancelled = await tx.all<{ id: string }>(
        `update executions set state = 'CANCELLED', ended_at = ?, owner = null, lease_expires_at = null,
                error = ?, history = ${history}
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
                  crash_recoveries = crash_recoveries + 1, history = ${history}
            where id = ? and state = 'RUNNING' and ${condition} and crash_recoveries + 1 >= ?`,
          [now, toJson(error), toJson(outputs), 'FAILED', now, id, param, crashLoopLimit],
        );
        if (changed === 0) continue;
        await tx.run(`update task_runs set state = 'FAILED', ended_at = ?, error = ? where execution_id = ? and state = 'RUNNING'`, [
          now,
          toJson(error),
          id,
        ]);
        for (const statement of logStatements([
          { executionId: id, taskId: null, taskRunId: null, attempt: null, level: 'ERROR', ts: now, message: `execution FAILED: ${error.message}` },
        ])) {
          await tx.run(statement.sql, statement.params);
        }
        crashLooped.push({ id, workflowId: row.workflow_id as string, namespace: row.namespace as string, error });
      }

      const requeued = await tx.all<{ id: string; crash_recoveries: number }>(
        `update executions set state = 'QUEUED', owner = null, lease_expires_at = null, crash_recoveries = crash_recoveries + 1,
                history = ${history}
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
      for (const statement of logStatements(notes)) await tx.run(statement.sql, statement.params);
      return { requeued: requeued.map((r) => r.id), cancelled: cancelled.map((r) => r.id), crashLooped };
    });
  }

  /**
   * Marks what an execution already recovered from a crash is about to run, so that if the
   * process dies again the crash-loop error can name it. Only suspects pay this write.
   */
  async recordCrashSite(fence: Fence, site: CrashSite): Promise<boolean> {
    const changed = await this.db.run(
      `update executions set crash_site = ? where id = ? and owner = ? and attempt = ? and state in ${ACTIVE}`,
      [toJson(site), ...fenceParams(fence)],
    );
    return changed > 0;
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
}

import type { SqlClient } from './sql-client';
import { ACTIVE, appendHistory, toExecution } from './sql-executions';
import type { ExecutionRecord } from './execution-types';

type Row = Record<string, unknown>;

/**
 * PostgreSQL's clock in epoch milliseconds, read per statement (`clock_timestamp()`, not the
 * transaction's start). Leases are granted and checked against it on PostgreSQL, so replicas
 * whose clocks disagree still agree on who holds a lease.
 */
export const DB_NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

/**
 * The queue: claiming the next execution (concurrency limits decided in the database, so any
 * number of processes may claim), the leases of the claimed ones, and what an owner asks about
 * its own. Giving up on dead owners' leases is recovery (sql-recovery.ts).
 */
export class SqlExecutionQueue {
  constructor(private readonly db: SqlClient) {}

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
              started_at = coalesce(started_at, ?), history = ${appendHistory(this.db.dialect)}
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
                  started_at = coalesce(started_at, ?), history = ${appendHistory(this.db.dialect)}
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
}

import type { SqlClient } from './sql-client';
import { SqlExecutionQueue } from './sql-execution-queue';
import { SqlExecutions } from './sql-executions';
import { SqlLogs } from './sql-logs';
import { SqlRecovery } from './sql-recovery';
import { SqlRetention } from './sql-retention';
import { SqlSchedules } from './sql-schedules';
import { SqlTaskRuns } from './sql-task-runs';

/**
 * The runtime's persistence (`StateStore.executions`) as one object: the parts below, one per
 * thing stored, composed over the one SqlClient. The runtime keeps calling one store and need
 * not know which part holds a method; each method here is its part's, signature and all, so the
 * SQL lives (and is documented) in the part only.
 */
export class SqlExecutionStore {
  private readonly rows: SqlExecutions;
  private readonly queue: SqlExecutionQueue;
  private readonly taskRuns: SqlTaskRuns;
  private readonly logs: SqlLogs;
  private readonly schedules: SqlSchedules;
  private readonly recovery: SqlRecovery;
  private readonly retention: SqlRetention;

  constructor(db: SqlClient) {
    this.rows = new SqlExecutions(db);
    this.queue = new SqlExecutionQueue(db);
    this.taskRuns = new SqlTaskRuns(db);
    this.logs = new SqlLogs(db);
    this.schedules = new SqlSchedules(db);
    this.recovery = new SqlRecovery(db);
    this.retention = new SqlRetention(db);
  }

  // executions: rows, idempotency keys, owner's end writes, cancel (sql-executions.ts)
  readonly insertExecution: SqlExecutions['insertExecution'] = (...args) => this.rows.insertExecution(...args);
  readonly findByIdempotencyKey: SqlExecutions['findByIdempotencyKey'] = (...args) => this.rows.findByIdempotencyKey(...args);
  readonly getExecution: SqlExecutions['getExecution'] = (...args) => this.rows.getExecution(...args);
  readonly getExecutionState: SqlExecutions['getExecutionState'] = (...args) => this.rows.getExecutionState(...args);
  readonly listExecutions: SqlExecutions['listExecutions'] = (...args) => this.rows.listExecutions(...args);
  readonly finishExecution: SqlExecutions['finishExecution'] = (...args) => this.rows.finishExecution(...args);
  readonly releaseExecution: SqlExecutions['releaseExecution'] = (...args) => this.rows.releaseExecution(...args);
  readonly cancelQueued: SqlExecutions['cancelQueued'] = (...args) => this.rows.cancelQueued(...args);
  readonly requestCancel: SqlExecutions['requestCancel'] = (...args) => this.rows.requestCancel(...args);

  // the queue: claims and leases (sql-execution-queue.ts)
  readonly claimNext: SqlExecutionQueue['claimNext'] = (...args) => this.queue.claimNext(...args);
  readonly countQueued: SqlExecutionQueue['countQueued'] = (...args) => this.queue.countQueued(...args);
  readonly renewLeases: SqlExecutionQueue['renewLeases'] = (...args) => this.queue.renewLeases(...args);
  readonly cancellingOwnedBy: SqlExecutionQueue['cancellingOwnedBy'] = (...args) => this.queue.cancellingOwnedBy(...args);
  readonly activeOwners: SqlExecutionQueue['activeOwners'] = (...args) => this.queue.activeOwners(...args);

  // crash recovery (sql-recovery.ts)
  readonly recoverAbandoned: SqlRecovery['recoverAbandoned'] = (...args) => this.recovery.recoverAbandoned(...args);
  readonly recordCrashSite: SqlRecovery['recordCrashSite'] = (...args) => this.recovery.recordCrashSite(...args);

  // task runs (sql-task-runs.ts)
  readonly insertTaskRun: SqlTaskRuns['insertTaskRun'] = (...args) => this.taskRuns.insertTaskRun(...args);
  readonly updateTaskRun: SqlTaskRuns['updateTaskRun'] = (...args) => this.taskRuns.updateTaskRun(...args);
  readonly listTaskRuns: SqlTaskRuns['listTaskRuns'] = (...args) => this.taskRuns.listTaskRuns(...args);

  // logs (sql-logs.ts)
  readonly appendLogs: SqlLogs['appendLogs'] = (...args) => this.logs.appendLogs(...args);
  readonly queryLogs: SqlLogs['queryLogs'] = (...args) => this.logs.queryLogs(...args);
  readonly contiguousLogIdsThrough: SqlLogs['contiguousLogIdsThrough'] = (...args) => this.logs.contiguousLogIdsThrough(...args);

  // schedules (sql-schedules.ts)
  readonly listScheduleTriggers: SqlSchedules['listScheduleTriggers'] = (...args) => this.schedules.listScheduleTriggers(...args);
  readonly fireSchedule: SqlSchedules['fireSchedule'] = (...args) => this.schedules.fireSchedule(...args);

  // retention (sql-retention.ts)
  readonly purgeFinishedBefore: SqlRetention['purgeFinishedBefore'] = (...args) => this.retention.purgeFinishedBefore(...args);
}

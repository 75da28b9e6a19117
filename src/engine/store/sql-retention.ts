import { encodeTime } from 'ulidx';
import type { SqlClient } from './sql-client';
import { TERMINAL_STATE_LIST, sqlStateList } from '../execution-state';

const TERMINAL = sqlStateList(TERMINAL_STATE_LIST);

/** Retention: what finished long enough ago goes, with everything that hangs off it. */
export class SqlRetention {
  constructor(private readonly db: SqlClient) {}

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

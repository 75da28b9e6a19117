import { toMillis, type SqlClient, type SqlParam, type SqlStatement } from './sql-client';
import { SqlListQuery } from './sql-list-query';
import { LOG_LEVELS, type LogLevelName, type LogLine, type LogQuery, type NewLogLine } from './execution-types';

type Row = Record<string, unknown>;

const LEVEL_NAMES = Object.fromEntries(Object.entries(LOG_LEVELS).map(([name, value]) => [value, name])) as Record<number, LogLevelName>;

/** Lines per insert: 1,400 parameters, well below SQLite's (32,766) and PostgreSQL's (65,535) limits. */
const CHUNK = 200;

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

/**
 * Multi-row inserts of at most CHUNK lines each: batching is what makes ingest fast. Exported
 * for the writes that carry their lines in the same commit (a finished task's or execution's
 * lines are durable with its state; recovery notes with the recovery).
 */
export function logStatements(lines: readonly NewLogLine[]): SqlStatement[] {
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

/** Execution logs: ingest, pages newest first, and the committed-prefix check that followers need. */
export class SqlLogs {
  constructor(private readonly db: SqlClient) {}

  /** One multi-row insert per chunk, all in one transaction: batching is what makes ingest fast. */
  async appendLogs(lines: readonly NewLogLine[]): Promise<void> {
    if (lines.length === 0) return;
    await this.db.writeBatch(logStatements(lines));
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
}

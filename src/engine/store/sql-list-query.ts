import { parseNamespaceGlob } from '../access/namespace-patterns';
import type { SqlClient, SqlParam } from './sql-client';

/**
 * The one builder of the stores' list queries (executions, logs, workflows, tools, API keys,
 * audit): WHERE clauses joined with `and`, a caller's namespace allow-list among them, then
 * `order by … limit ? offset ?`. The page asks for one row more than `limit`, so `hasMore` costs
 * no count.
 *
 * Values are always `?` parameters: the SQL text depends only on which filters are present
 * (and, for an allow-list, on its length and on each entry's kind: exact name, subtree, or `*`,
 * which makes the whole filter `1 = 1`), never on their values, so PostgreSQL reuses one
 * named prepared statement per shape (sql-client.ts keys them by text).
 */
export class SqlListQuery {
  private readonly clauses: string[] = [];
  private readonly params: SqlParam[] = [];

  /** A clause that always applies, with the values of its `?`s. */
  where(sql: string, ...params: SqlParam[]): this {
    this.clauses.push(sql);
    this.params.push(...params);
    return this;
  }

  /** An optional filter with one `?`: left out when the caller left `value` out. */
  filter(sql: string, value: SqlParam | undefined): this {
    return value === undefined ? this : this.where(sql, value);
  }

  /**
   * The SQL form of `namespaceAllowed` (access/namespace-patterns.ts), with the same reading of
   * each entry; nothing when there is no allow-list (the caller may see every namespace).
   */
  namespaces(column: string, patterns: readonly string[] | undefined): this {
    if (!patterns) return this;
    if (patterns.length === 0) return this.where('1 = 0');
    const clauses: string[] = [];
    const params: SqlParam[] = [];
    for (const pattern of patterns) {
      const glob = parseNamespaceGlob(pattern);
      if (glob.kind === 'all') return this.where('1 = 1');
      if (glob.kind === 'subtree') {
        clauses.push(`(${column} = ? or substr(${column}, 1, ?) = ?)`);
        params.push(glob.base, glob.base.length + 1, `${glob.base}.`);
      } else {
        clauses.push(`${column} = ?`);
        params.push(glob.name);
      }
    }
    return this.where(`(${clauses.join(' or ')})`, ...params);
  }

  /** Runs `select` (columns and table, no WHERE) with the clauses, `order by orderBy` and the page. */
  async page<R, T>(db: SqlClient, select: string, orderBy: string, page: { limit: number; offset: number }, map: (row: R) => T): Promise<{ items: T[]; hasMore: boolean }> {
    const where = this.clauses.length ? `where ${this.clauses.join(' and ')}` : '';
    const rows = await db.all<R>(`${select} ${where} order by ${orderBy} limit ? offset ?`, [...this.params, page.limit + 1, page.offset]);
    return { items: rows.slice(0, page.limit).map(map), hasMore: rows.length > page.limit };
  }
}

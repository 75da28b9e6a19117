import type { SqlParam } from './sql-client';

/** `team.*` matches `team` and everything below it; other entries match exactly. */
export function namespaceFilterSql(column: string, patterns: readonly string[]): { sql: string; params: SqlParam[] } {
  if (patterns.length === 0) return { sql: '1 = 0', params: [] };
  const clauses: string[] = [];
  const params: SqlParam[] = [];
  for (const pattern of patterns) {
    if (pattern === '*') return { sql: '1 = 1', params: [] };
    if (pattern.endsWith('.*')) {
      const base = pattern.slice(0, -2);
      clauses.push(`(${column} = ? or substr(${column}, 1, ?) = ?)`);
      params.push(base, base.length + 1, `${base}.`);
    } else {
      clauses.push(`${column} = ?`);
      params.push(pattern);
    }
  }
  return { sql: `(${clauses.join(' or ')})`, params };
}

import { parseNamespaceGlob } from '../access/namespace-patterns';
import type { SqlParam } from './sql-client';

/** The SQL form of `namespaceAllowed` (access/namespace-patterns.ts): the same reading of each entry. */
export function namespaceFilterSql(column: string, patterns: readonly string[]): { sql: string; params: SqlParam[] } {
  if (patterns.length === 0) return { sql: '1 = 0', params: [] };
  const clauses: string[] = [];
  const params: SqlParam[] = [];
  for (const pattern of patterns) {
    const glob = parseNamespaceGlob(pattern);
    if (glob.kind === 'all') return { sql: '1 = 1', params: [] };
    if (glob.kind === 'subtree') {
      clauses.push(`(${column} = ? or substr(${column}, 1, ?) = ?)`);
      params.push(glob.base, glob.base.length + 1, `${glob.base}.`);
    } else {
      clauses.push(`${column} = ?`);
      params.push(glob.name);
    }
  }
  return { sql: `(${clauses.join(' or ')})`, params };
}

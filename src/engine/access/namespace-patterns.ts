/**
 * Namespace allow-lists and their containment, for key management (who may see and grant what).
 *
 * An allow-list entry is an exact namespace (`team.a`), a glob `base.*` (matches `base` itself and
 * every namespace below it: `base.x`, `base.x.y`; not `basex`), or `*` (every namespace). A list
 * matches the union of its entries; "no list" (`null` on a key, `undefined` on a caller) means
 * every namespace, exactly like `['*']`.
 *
 * Containment is set inclusion of the matched namespaces: `inner` lies within `outer` when every
 * namespace `inner` matches is matched by `outer`. Checking each entry of `inner` against a single
 * entry of `outer` is exact, because a glob matches infinitely many namespaces and only a glob at
 * or above it (or `*`) can cover all of them.
 */

/** An allow-list entry: a name (`team-a`, `team.a`), a glob `base.*`, or `*`. */
export const NAMESPACE_GLOB_PATTERN = /^(\*|[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9][A-Za-z0-9_-]*)*(\.\*)?)$/;

/** What an allow-list entry matches: every namespace, one, or a subtree (`base` and below). */
export type NamespaceGlob = { kind: 'all' } | { kind: 'exact'; name: string } | { kind: 'subtree'; base: string };

/** The one reading of an entry, shared by the in-memory checks and the SQL filter. */
export function parseNamespaceGlob(pattern: string): NamespaceGlob {
  if (pattern === '*') return { kind: 'all' };
  if (pattern.endsWith('.*')) return { kind: 'subtree', base: pattern.slice(0, -2) };
  return { kind: 'exact', name: pattern };
}

/** `pattern` (an allow-list entry) covers `candidate` (a namespace or another entry). */
export function namespacePatternCovers(pattern: string, candidate: string): boolean {
  const glob = parseNamespaceGlob(pattern);
  if (glob.kind === 'all') return true;
  if (candidate === '*') return false;
  if (glob.kind === 'exact') return candidate === glob.name;
  const candidateBase = candidate.endsWith('.*') ? candidate.slice(0, -2) : candidate;
  return candidateBase === glob.base || candidateBase.startsWith(`${glob.base}.`);
}

/** What a caller may see: `undefined` = everything; otherwise allow-list entries (`team.*`). */
export type NamespaceScope = readonly string[] | undefined;

/** Whether `namespace` lies within the caller's `scope`. */
export function namespaceAllowed(namespace: string, scope: NamespaceScope): boolean {
  return !scope || scope.some((pattern) => namespacePatternCovers(pattern, namespace));
}

/** null/undefined = every namespace */
export type NamespaceList = readonly string[] | null | undefined;

/** Whether every namespace matched by `inner` is matched by `outer`. */
export function namespacesWithin(inner: NamespaceList, outer: NamespaceList): boolean {
  const outerList = outer ?? ['*'];
  if (outerList.includes('*')) return true;
  const innerList = inner ?? ['*'];
  return innerList.every((candidate) => outerList.some((pattern) => namespacePatternCovers(pattern, candidate)));
}

/** The entries of `inner` that `outer` does not cover (`['*']` when `inner` is every namespace). */
export function namespacesBeyond(inner: NamespaceList, outer: NamespaceList): string[] {
  const outerList = outer ?? ['*'];
  if (outerList.includes('*')) return [];
  return (inner ?? ['*']).filter((candidate) => !outerList.some((pattern) => namespacePatternCovers(pattern, candidate)));
}

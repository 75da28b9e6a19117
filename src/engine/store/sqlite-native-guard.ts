import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * Keeps better-sqlite3's native objects from ever being garbage collected (Node 24).
 *
 * better-sqlite3 (11.x and 12.x, what @mikro-orm/better-sqlite 6 pins) derives `Database` and
 * `Statement` from `node::ObjectWrap`, whose code is compiled into the addon from Node's headers.
 * Since Node 24.19 that header registers an environment cleanup hook per object and removes it in
 * the destructor with `RemoveEnvironmentCleanupHook(Isolate::GetCurrent(), ...)`, which CHECKs
 * that a Node context is entered. A major GC that V8 runs from a platform task (incremental
 * marking, the memory reducer: an idle server, a test worker between files) has no context
 * entered: on the Node 24.19 to 24.21 runtimes the first dead Statement it finalizes aborts the
 * process with `Assertion failed: (env) != nullptr` in `Statement::~Statement` (24.22 no longer
 * checks; nothing here may depend on which 24.x a user runs). Closing the database does not
 * help: a closed database's statements are still ObjectWraps. (better-sqlite3 13 moved to
 * Node-API and is immune, but needs Node 22 and crashes on Node 20.)
 *
 * So no such object may die before the process does: every statement is interned per
 * connection and SQL text (knex prepares a new statement for every query; interning makes that
 * the same one), and every connection is kept. At process exit Node's own cleanup hooks free them,
 * with the context entered, which is safe. The cost is one statement per distinct SQL text per
 * connection for the life of the process: the queries of this codebase use bound parameters, so
 * that set is small and stops growing.
 *
 * Reuse is safe for how statements are used here (run/all/get with parameters; no bind(), no
 * iterate() left open); the per-statement output modes a caller may have switched on (pluck,
 * raw, expand: `db.pragma(..., {simple: true})` uses pluck) are switched off on reuse.
 */

interface NativeStatement {
  readonly reader: boolean;
  readonly busy?: boolean;
  pluck(toggle: boolean): unknown;
  raw(toggle: boolean): unknown;
  expand(toggle: boolean): unknown;
}
interface NativeDatabaseClass {
  new (...args: unknown[]): object;
  prototype: { prepare(this: object, sql: string, owner: object, pragmaMode: boolean): NativeStatement };
}
interface NativeAddon {
  Database: NativeDatabaseClass;
  __autokestraPinned?: boolean;
}

/** everything ever opened, for the life of the process (see above) */
const pinned = new Set<object>();
const interned = new WeakMap<object, Map<string, NativeStatement>>();

function resetModes(statement: NativeStatement): void {
  if (!statement.reader) return;
  statement.pluck(false);
  statement.raw(false);
  statement.expand(false);
}

/** The native addon better-sqlite3 loads (the same module object: Node caches addons by path). */
function loadAddon(): NativeAddon | null {
  const requireCjs = createRequire(__filename);
  let root: string;
  try {
    root = dirname(requireCjs.resolve('better-sqlite3/package.json'));
  } catch {
    return null; // not installed (a PostgreSQL-only deployment)
  }
  for (const build of ['Release', 'Debug']) {
    try {
      return requireCjs(join(root, 'build', build, 'better_sqlite3.node')) as NativeAddon;
    } catch {
      /* try the next one */
    }
  }
  return null;
}

/** Idempotent; call before the first database is opened. Returns false when better-sqlite3 is absent. */
export function pinSqliteNativeObjects(): boolean {
  const addon = loadAddon();
  if (!addon?.Database?.prototype?.prepare) return false;
  if (addon.__autokestraPinned) return true;
  addon.__autokestraPinned = true;

  const Original = addon.Database;
  const prepare = Original.prototype.prepare;
  Original.prototype.prepare = function internedPrepare(this: object, sql: string, owner: object, pragmaMode: boolean): NativeStatement {
    pinned.add(this);
    pinned.add(owner);
    let statements = interned.get(this);
    if (!statements) {
      statements = new Map();
      interned.set(this, statements);
      pinned.add(statements);
    }
    const key = `${pragmaMode ? 'p' : 's'}:${sql}`;
    const cached = statements.get(key);
    if (cached && !cached.busy) {
      resetModes(cached);
      return cached;
    }
    // a statement still being iterated cannot be shared: a fresh one, kept as well
    const statement = prepare.call(this, sql, owner, pragmaMode);
    if (cached) pinned.add(statement);
    else statements.set(key, statement);
    return statement;
  };
  // A connection that is opened and closed without preparing anything must not die either.
  addon.Database = new Proxy(Original, {
    construct(target, args) {
      const db = Reflect.construct(target, args) as object;
      pinned.add(db);
      return db;
    },
  });
  return true;
}

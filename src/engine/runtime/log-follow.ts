import { type ExecutionRecord, type LogLevelName, type LogLine } from '../store/execution-types';
import { TERMINAL_STATES } from '../execution-state';
import type { StateStore } from '../store/state-store';

export interface FollowQuery {
  /** only lines with a greater id (the cursor; 0 or omitted: from the first line) */
  after?: number;
  /** minimum level */
  level?: LogLevelName;
  taskId?: string;
}

export interface FollowOptions {
  /** stops the follower (client gone); it returns at its next step */
  signal?: AbortSignal;
  /** false: yield the lines there are now, then return (no end event); default true */
  live?: boolean;
  /** how often the store is read while nothing wakes the follower */
  pollMs?: number;
  /** lines read per query at most */
  batch?: number;
}

export type FollowEvent = { type: 'lines'; lines: LogLine[] } | { type: 'end'; execution: ExecutionRecord };

/** Where a follower learns early that something happened (it polls the store regardless). */
export interface FollowNotices {
  /** lines of the execution were stored by this process */
  onLogs(executionId: string, fn: () => void): () => void;
  /** the execution ended in this process */
  onFinished(executionId: string, fn: () => void): () => void;
  /** aborted when the engine begins to drain: every follower ends, so shutdown is not held up */
  drained: AbortSignal;
}

export const DEFAULT_FOLLOW_POLL_MS = 250;
export const DEFAULT_FOLLOW_BATCH = 500;
/**
 * PostgreSQL: a line older than this is taken as settled without looking for gaps below it (no
 * log-writing transaction stays open that long; retention leaves old gaps that are not lines
 * on their way).
 */
const SETTLED_AGE_MS = 30_000;
/** PostgreSQL: a missing id that stays missing this long belongs to a rolled-back write. */
const GAP_GIVE_UP_MS = 3_000;
/** ids looked at per gap query */
const GAP_SCAN_IDS = 2000;

/**
 * Follows an execution's log in id order: the lines after the cursor, then new ones as they are
 * stored, then the end once the execution is terminal and every line stored before that has
 * been yielded. It reads the store (so it sees what any replica writes), one query at a time
 * (no connection is held between polls), waking early on this process's notices.
 *
 * The cursor is the log id. On SQLite writes are serialized, so ids become visible in order.
 * On PostgreSQL concurrent transactions commit out of id order; lines are yielded only up to
 * the highest id below which no id is missing (any execution's: the sequence is shared), so a
 * cursor never passes a line that is still being committed. A gap that outlives
 * GAP_GIVE_UP_MS is a rolled-back write and is passed.
 */
export async function* followLogs(store: StateStore, executionId: string, query: FollowQuery, notices: FollowNotices, options: FollowOptions = {}): AsyncGenerator<FollowEvent, void, undefined> {
  const pollMs = options.pollMs ?? DEFAULT_FOLLOW_POLL_MS;
  const batch = options.batch ?? DEFAULT_FOLLOW_BATCH;
  const live = options.live !== false;
  const checkGaps = store.dialect === 'postgresql';
  const signals = [notices.drained, ...(options.signal ? [options.signal] : [])];
  const stopped = () => signals.some((s) => s.aborted);

  let cursor = query.after ?? 0;
  /** every id <= settled is committed or never will be (PostgreSQL) */
  let settled = cursor;
  let gap = null as { id: number; since: number } | null;

  let wake: (() => void) | null = null;
  /** a notice that came while the follower was reading: read again before sleeping */
  let pending = false;
  const poke = () => {
    if (wake) wake();
    else pending = true;
  };
  const unsubscribe = [notices.onLogs(executionId, poke), notices.onFinished(executionId, poke)];
  for (const s of signals) s.addEventListener('abort', poke);
  try {
    while (!stopped()) {
      // The state is read before the lines: when it is terminal, every line committed with or
      // before the terminal transition is visible to the read that follows.
      pending = false;
      const state = await store.executions.getExecutionState(executionId);
      if (state === null) return; // removed meanwhile (retention)
      const page = await store.executions.queryLogs({ executionId, limit: batch, offset: 0, minLevel: query.level, taskId: query.taskId, after: cursor });
      if (stopped()) return;
      const lines = page.items.reverse(); // `after` pages come newest first
      let held = false;
      let ready = lines;
      if (checkGaps && lines.length > 0) {
        const last = lines[lines.length - 1].id;
        const oldEnough = Date.now() - SETTLED_AGE_MS;
        for (const line of lines) if (line.ts < oldEnough && line.id > settled) settled = line.id;
        while (settled < last) {
          const through = await store.executions.contiguousLogIdsThrough(settled, last, GAP_SCAN_IDS);
          const whole = through - settled === Math.min(GAP_SCAN_IDS, last - settled);
          settled = through;
          if (!whole) break; // a gap at settled + 1
        }
        if (settled < last) {
          const missing = settled + 1;
          const now = Date.now();
          if (gap?.id !== missing) gap = { id: missing, since: now };
          else if (now - gap.since >= GAP_GIVE_UP_MS) {
            settled = missing;
            gap = null;
          }
          ready = lines.filter((l) => l.id <= settled);
          held = ready.length < lines.length;
        } else gap = null;
        if (stopped()) return;
      }
      if (ready.length > 0) {
        cursor = ready[ready.length - 1].id;
        if (cursor > settled) settled = cursor;
        yield { type: 'lines', lines: ready };
      }
      // a full page: read on at once (bounded batches, not one huge read)
      if (page.hasMore && !held) continue;
      if (!held && !live) return;
      if (!held && TERMINAL_STATES.has(state)) {
        const execution = await store.executions.getExecution(executionId);
        if (execution) yield { type: 'end', execution };
        return;
      }
      if (pending && !held) {
        pending = false;
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, held ? Math.min(pollMs, 50) : pollMs);
        function done() {
          clearTimeout(timer);
          wake = null;
          resolve();
        }
        wake = done;
        if (stopped()) done();
      });
    }
  } finally {
    wake = null;
    for (const off of unsubscribe) off();
    for (const s of signals) s.removeEventListener('abort', poke);
  }
}

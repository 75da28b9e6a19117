import { randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulidx';

const pool = new Uint32Array(4096);
let next = pool.length;

/** Crypto-quality randomness drawn from a pooled buffer: one syscall per 4096 draws, not per character. */
function pooledRandom(): number {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  return pool[next++] / 0x1_0000_0000;
}

/**
 * ULIDs: URL-safe, opaque, and sortable by creation (monotonic within the same millisecond),
 * so "newest first" is `order by id desc` and claiming oldest-first is `order by id`.
 */
export const newId: () => string = monotonicFactory(pooledRandom);

import { describe, expect, it } from 'vitest';
import type { RetryPolicy } from '../../src/engine/dsl/types';
import { retryDelayMs } from '../../src/engine/runtime/execution-runner';

const policy = (p: Partial<RetryPolicy>): RetryPolicy => ({ maxAttempts: 5, delayMs: 100, backoff: 'constant', maxDelayMs: null, ...p });

describe('retryDelayMs', () => {
  it('constant backoff waits `delay` before every retry', () => {
    const p = policy({ backoff: 'constant', delayMs: 250 });
    expect([1, 2, 3, 4].map((n) => retryDelayMs(p, n))).toEqual([250, 250, 250, 250]);
  });

  it('exponential backoff doubles the delay after each failure: delay, 2×, 4×, 8×', () => {
    const p = policy({ backoff: 'exponential', delayMs: 100 });
    expect([1, 2, 3, 4].map((n) => retryDelayMs(p, n))).toEqual([100, 200, 400, 800]);
  });

  it('maxDelay caps the exponential growth', () => {
    const p = policy({ backoff: 'exponential', delayMs: 100, maxDelayMs: 300 });
    expect([1, 2, 3, 4, 10].map((n) => retryDelayMs(p, n))).toEqual([100, 200, 300, 300, 300]);
  });

  it('maxDelay also bounds a constant delay (never above the cap)', () => {
    expect(retryDelayMs(policy({ backoff: 'constant', delayMs: 100, maxDelayMs: 100 }), 3)).toBe(100);
  });

  it('a zero delay retries at once', () => {
    expect(retryDelayMs(policy({ backoff: 'exponential', delayMs: 0 }), 5)).toBe(0);
    expect(retryDelayMs(policy({ backoff: 'constant', delayMs: 0 }), 1)).toBe(0);
  });

  it('large failure counts stay finite when capped', () => {
    const d = retryDelayMs(policy({ backoff: 'exponential', delayMs: 1000, maxDelayMs: 60_000 }), 99);
    expect(d).toBe(60_000);
  });
});

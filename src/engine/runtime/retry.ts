import type { RetryPolicy } from '../dsl/types';
import type { TaskRunRecord } from '../store/execution-types';

/**
 * Retries of a leaf task (`retry:`): how long to wait before the next attempt and whether one is
 * left. Only the runner's leaf path retries; containers refuse `retry` at apply.
 */

/** The delay before the attempt that follows `failures` failed ones (1 = after the first). */
export function retryDelayMs(policy: RetryPolicy, failures: number): number {
  const base = policy.backoff === 'exponential' ? policy.delayMs * 2 ** (failures - 1) : policy.delayMs;
  return policy.maxDelayMs !== null ? Math.min(base, policy.maxDelayMs) : base;
}

/** Attempts of this task that count against `maxAttempts`: an interrupted one (process stopped) does not. */
export function countedFailures(runs: readonly TaskRunRecord[]): number {
  return runs.filter((r) => r.state === 'FAILED' && r.error?.kind !== 'INTERRUPTED').length;
}

/** Whether a task that has failed `failures` times gets another attempt. */
export function willRetry(policy: RetryPolicy | null, failures: number): boolean {
  return policy !== null && failures < policy.maxAttempts;
}

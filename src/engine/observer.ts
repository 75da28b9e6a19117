import type { TerminalState } from './execution-state';
import type { LogLevelName } from './store/execution-types';

export type FinishedState = TerminalState;
export type RecoveryReason = 'lease_expired' | 'dead_process';
export type RateLimiter = 'failed_auth' | 'api_key';

/**
 * What the engine reports as it works, for whoever watches it (the Prometheus metrics in
 * src/common/metrics subscribe; the engine knows nothing of them). Every method is optional.
 * Arguments are positional, not event objects: the hot paths (a log line, a request) must not
 * allocate for an observer that may not even exist. Observers must be cheap and must not throw.
 */
export interface EngineObserver {
  /** this process claimed an execution for its first run (resumed runs are not counted again) */
  executionStarted?(workflowId: string): void;
  /** an execution ended; `durationMs` from its first start, null when it never started (cancelled while QUEUED) */
  executionFinished?(workflowId: string, state: FinishedState, durationMs: number | null): void;
  /** one attempt of a leaf task ended */
  taskFinished?(workflowId: string, taskType: string, state: FinishedState, durationMs: number): void;
  /** a failed attempt will be retried */
  taskRetried?(workflowId: string, taskType: string): void;
  /** executions of a dead owner went back to the queue */
  leasesRecovered?(count: number, reason: RecoveryReason): void;
  /** a request failed authentication; `reason` is one of a small fixed set (missing, malformed, unknown, revoked, ...) */
  authFailed?(reason: string): void;
  /** a request was refused with 429 */
  rateLimited?(limiter: RateLimiter): void;
  /** an execution log line was accepted for writing */
  logLineWritten?(level: LogLevelName): void;
  /** a store operation of a background loop failed (claim, lease renewal, recovery, log write, ...) */
  storeError?(operation: string): void;
}

type Hook = keyof EngineObserver;

/**
 * Fans the engine's reports out to its observers. With none subscribed (metrics disabled, the
 * CLI) every report is one call and an empty loop.
 */
export class EngineEvents implements Required<EngineObserver> {
  private observers: EngineObserver[] = [];

  /** Adds an observer; the returned function removes it again. */
  subscribe(observer: EngineObserver): () => void {
    this.observers = [...this.observers, observer];
    return () => {
      this.observers = this.observers.filter((o) => o !== observer);
    };
  }

  get observed(): boolean {
    return this.observers.length > 0;
  }

  private emit<K extends Hook>(hook: K, ...args: Parameters<Required<EngineObserver>[K]>): void {
    const observers = this.observers;
    for (let i = 0; i < observers.length; i++) {
      const fn = observers[i][hook] as ((...a: unknown[]) => void) | undefined;
      if (fn === undefined) continue;
      try {
        fn.apply(observers[i], args);
      } catch {
        // an observer's bug must never break the engine's work
      }
    }
  }

  executionStarted(workflowId: string): void {
    if (this.observers.length) this.emit('executionStarted', workflowId);
  }

  executionFinished(workflowId: string, state: FinishedState, durationMs: number | null): void {
    if (this.observers.length) this.emit('executionFinished', workflowId, state, durationMs);
  }

  taskFinished(workflowId: string, taskType: string, state: FinishedState, durationMs: number): void {
    if (this.observers.length) this.emit('taskFinished', workflowId, taskType, state, durationMs);
  }

  taskRetried(workflowId: string, taskType: string): void {
    if (this.observers.length) this.emit('taskRetried', workflowId, taskType);
  }

  leasesRecovered(count: number, reason: RecoveryReason): void {
    if (this.observers.length && count > 0) this.emit('leasesRecovered', count, reason);
  }

  authFailed(reason: string): void {
    if (this.observers.length) this.emit('authFailed', reason);
  }

  rateLimited(limiter: RateLimiter): void {
    if (this.observers.length) this.emit('rateLimited', limiter);
  }

  logLineWritten(level: LogLevelName): void {
    if (this.observers.length) this.emit('logLineWritten', level);
  }

  storeError(operation: string): void {
    if (this.observers.length) this.emit('storeError', operation);
  }
}

import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

const MAX_BLOCKED = 100_000;

/**
 * Limits failed authentications per client address. Only failures are counted (through
 * rate-limiter-flexible); the per-request check is a lookup in a small map of currently
 * blocked addresses, so the success path pays nothing measurable.
 */
export class FailedAuthLimiter {
  private readonly limiter: RateLimiterMemory;
  private readonly blocked = new Map<string, number>();

  constructor(limit: number, windowMs: number) {
    this.limiter = new RateLimiterMemory({ points: limit, duration: Math.max(1, Math.ceil(windowMs / 1000)) });
  }

  /** ms until this address may authenticate again; 0 when it is not blocked */
  blockedFor(ip: string): number {
    if (this.blocked.size === 0) return 0;
    const until = this.blocked.get(ip);
    if (until === undefined) return 0;
    const left = until - Date.now();
    if (left > 0) return left;
    this.blocked.delete(ip);
    return 0;
  }

  /** Counts a failure; returns the wait in ms when this failure exceeded the limit, else 0. */
  async recordFailure(ip: string): Promise<number> {
    try {
      await this.limiter.consume(ip);
      return 0;
    } catch (result) {
      if (!(result instanceof RateLimiterRes)) throw result;
      if (this.blocked.size >= MAX_BLOCKED) this.blocked.clear();
      this.blocked.set(ip, Date.now() + result.msBeforeNext);
      return result.msBeforeNext;
    }
  }
}

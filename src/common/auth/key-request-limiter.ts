import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { KeyRateLimit } from '../../engine/access/key-rate-limit';

/** The outcome of counting one request of a rate-limited key. */
export interface KeyRequestQuota {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** ms until the current window ends */
  resetMs: number;
}

/** Distinct (requests, window) pairs kept; beyond it the limiters are dropped (counts restart). */
const MAX_POLICIES = 1000;

/**
 * Per-key request limits (`rateLimit` on a managed key): a fixed window per key and process,
 * counted with rate-limiter-flexible in memory. One limiter per distinct (requests, window)
 * pair; a key whose limit changes starts counting afresh under its new pair. Keys without a
 * limit never reach this class.
 */
export class KeyRequestLimiter {
  private readonly limiters = new Map<string, RateLimiterMemory>();

  async consume(keyId: string, policy: KeyRateLimit): Promise<KeyRequestQuota> {
    const limiter = this.limiterFor(policy);
    try {
      const res = await limiter.consume(keyId);
      return { allowed: true, limit: policy.requests, remaining: res.remainingPoints, resetMs: res.msBeforeNext };
    } catch (result) {
      if (!(result instanceof RateLimiterRes)) throw result;
      return { allowed: false, limit: policy.requests, remaining: 0, resetMs: result.msBeforeNext };
    }
  }

  private limiterFor(policy: KeyRateLimit): RateLimiterMemory {
    const name = `${policy.requests}/${policy.windowSeconds}`;
    let limiter = this.limiters.get(name);
    if (!limiter) {
      if (this.limiters.size >= MAX_POLICIES) this.limiters.clear();
      limiter = new RateLimiterMemory({ points: policy.requests, duration: policy.windowSeconds, keyPrefix: name });
      this.limiters.set(name, limiter);
    }
    return limiter;
  }
}

/**
 * The IETF draft's header fields (draft-ietf-httpapi-ratelimit-headers, the `RateLimit-Limit`,
 * `RateLimit-Remaining`, `RateLimit-Reset` form; Reset in seconds until the window ends).
 */
export function rateLimitHeaders(quota: KeyRequestQuota): Record<string, string> {
  return {
    'ratelimit-limit': String(quota.limit),
    'ratelimit-remaining': String(quota.remaining),
    'ratelimit-reset': String(Math.max(0, Math.ceil(quota.resetMs / 1000))),
  };
}

import { createHash } from 'node:crypto';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { displayPrefix, KEY_PREFIX } from '../../engine/access/key-format';

const MAX_BLOCKED = 100_000;

/**
 * What identifies a presented credential for failure counting, without holding it: a managed
 * key's display prefix (`ak_` + 9, public in lists and the audit trail: the rest stays secret),
 * or a short SHA-256 of any other token. Guessing the secret part of a known prefix from many
 * addresses is limited by this counter.
 */
export function credentialId(presented: string): string {
  if (presented.startsWith(KEY_PREFIX)) return displayPrefix(presented);
  return `sha256:${createHash('sha256').update(presented, 'utf8').digest('hex').slice(0, 32)}`;
}

/**
 * Limits failed authentications per client address and per presented credential, and only
 * failures: the guard authenticates first and calls this on the failure path alone, so a valid
 * key is never refused because others failed from its address (or with a look-alike prefix),
 * and the success path never touches it.
 *
 * Each counter allows `limit` failures per window (rate-limiter-flexible, in memory, per
 * process). A failure over either limit blocks that address or credential until the window
 * ends; failures while blocked answer 429 at once and are not counted again, so counter entries
 * grow with the failures of unblocked addresses only (at most `limit` per address and window).
 */
export class FailedAuthLimiter {
  private readonly byAddress: RateLimiterMemory;
  private readonly byCredential: RateLimiterMemory;
  private readonly blocked = new Map<string, number>();

  constructor(limit: number, windowMs: number) {
    const duration = Math.max(1, Math.ceil(windowMs / 1000));
    this.byAddress = new RateLimiterMemory({ points: limit, duration, keyPrefix: 'ip' });
    this.byCredential = new RateLimiterMemory({ points: limit, duration, keyPrefix: 'key' });
  }

  /**
   * Counts one failed attempt from `ip` with `credential` (null when nothing usable was sent).
   * Returns the wait in ms when the address or the credential is (now) blocked, else 0.
   */
  async recordFailure(ip: string, credential: string | null): Promise<number> {
    const addressKey = `ip:${ip}`;
    const credentialKey = credential === null ? null : `key:${credential}`;
    const alreadyBlocked = Math.max(this.blockedFor(addressKey), credentialKey === null ? 0 : this.blockedFor(credentialKey));
    if (alreadyBlocked > 0) return alreadyBlocked;
    const waits = await Promise.all([
      this.count(this.byAddress, ip, addressKey),
      credential === null ? 0 : this.count(this.byCredential, credential, credentialKey!),
    ]);
    return Math.max(...waits);
  }

  private blockedFor(blockKey: string): number {
    if (this.blocked.size === 0) return 0;
    const until = this.blocked.get(blockKey);
    if (until === undefined) return 0;
    const left = until - Date.now();
    if (left > 0) return left;
    this.blocked.delete(blockKey);
    return 0;
  }

  private async count(limiter: RateLimiterMemory, key: string, blockKey: string): Promise<number> {
    try {
      await limiter.consume(key);
      return 0;
    } catch (result) {
      if (!(result instanceof RateLimiterRes)) throw result;
      if (this.blocked.size >= MAX_BLOCKED) this.blocked.clear();
      this.blocked.set(blockKey, Date.now() + result.msBeforeNext);
      return result.msBeforeNext;
    }
  }
}

import type { EngineLogger } from '../logger';
import { BufferedWriter } from '../runtime/buffered-writer';
import { newId } from '../runtime/ids';
import type { AuditEvent } from '../store/sql-access-store';
import type { AccessStore } from '../store/state-store';
import type { Caller } from './scopes';

export interface AuditEntry {
  action: string;
  resourceType?: string | null;
  resourceId?: string | null;
  namespace?: string | null;
  outcome?: AuditEvent['outcome'];
  details?: Record<string, unknown> | null;
}

interface FailureBucket {
  ip: string | null;
  prefix: string | null;
  reason: string;
  count: number;
  firstAt: number;
}

const MAX_BUCKETS = 1000;

/**
 * The audit trail. Writes are buffered and flushed every 100 ms (and on shutdown): an audit
 * insert per trigger would otherwise double the commits of the hot path.
 *
 * Authentication failures are aggregated: the first failure of an (address, key prefix, reason)
 * in a window is written at once; repeats within the window only increment a counter, written
 * as one `auth.failure` event with `details.count` when the window closes. Under a flood from
 * many addresses, buckets beyond MAX_BUCKETS fold into one overflow bucket — the disk grows by
 * at most ~MAX_BUCKETS events per window whatever the attack rate.
 */
export class AuditLog {
  private readonly writer: BufferedWriter<AuditEvent>;
  private readonly failures = new Map<string, FailureBucket>();
  private windowTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: AccessStore,
    private readonly options: { failureWindowMs: number; logger: EngineLogger },
  ) {
    this.writer = new BufferedWriter((batch) => store.appendAudit(batch), {
      flushIntervalMs: 100,
      maxBuffered: 500,
      onError: (error) => options.logger.error({ err: error }, 'writing audit events failed'),
    });
  }

  record(caller: Caller, entry: AuditEntry): void {
    this.push({
      id: newId(),
      at: Date.now(),
      actor: caller.actor,
      action: entry.action,
      resourceType: entry.resourceType ?? null,
      resourceId: entry.resourceId ?? null,
      namespace: entry.namespace ?? null,
      outcome: entry.outcome ?? 'success',
      ip: caller.ip ?? null,
      details: entry.details ?? null,
    });
  }

  /** `prefix` is the display prefix of the presented key (never the key itself). */
  authFailure(ip: string | null, prefix: string | null, reason: string): void {
    const key = this.failures.size >= MAX_BUCKETS && !this.failures.has(`${ip}|${prefix}|${reason}`) ? 'overflow' : `${ip}|${prefix}|${reason}`;
    const bucket = this.failures.get(key);
    if (bucket) {
      bucket.count += 1;
      return;
    }
    this.failures.set(key, key === 'overflow' ? { ip: null, prefix: null, reason: 'many addresses', count: 1, firstAt: Date.now() } : { ip, prefix, reason, count: 0, firstAt: Date.now() });
    if (key !== 'overflow') this.push(this.failureEvent(ip, prefix, reason, { count: 1 }));
    if (!this.windowTimer) {
      this.windowTimer = setTimeout(() => this.closeFailureWindow(), this.options.failureWindowMs);
      this.windowTimer.unref();
    }
  }

  private failureEvent(ip: string | null, prefix: string | null, reason: string, details: Record<string, unknown>): AuditEvent {
    return {
      id: newId(),
      at: Date.now(),
      actor: prefix ?? 'anonymous',
      action: 'auth.failure',
      resourceType: 'api-key',
      resourceId: null,
      namespace: null,
      outcome: 'failure',
      ip,
      details: { reason, ...details },
    };
  }

  private closeFailureWindow(): void {
    this.windowTimer = null;
    for (const bucket of this.failures.values()) {
      if (bucket.count > 0) {
        this.push(this.failureEvent(bucket.ip, bucket.prefix, bucket.reason, { count: bucket.count, aggregated: true, windowStartedAt: new Date(bucket.firstAt).toISOString() }));
      }
    }
    this.failures.clear();
  }

  private push(event: AuditEvent): void {
    this.writer.push(event);
  }

  flush(): Promise<void> {
    return this.writer.flush();
  }

  /** Shutdown: closes the failure window and writes everything. */
  async close(): Promise<void> {
    if (this.windowTimer) clearTimeout(this.windowTimer);
    this.closeFailureWindow();
    await this.flush();
  }

  async query(q: { limit: number; offset: number; action?: string; actor?: string; since?: number; namespaces?: readonly string[] }) {
    await this.flush();
    return this.store.queryAudit(q);
  }
}

import { fromJson, toJson, toMillis, toMillisOrNull, type SqlClient, type SqlParam } from './sql-client';
import { SqlListQuery } from './sql-list-query';
import type { KeyRateLimit } from '../access/key-rate-limit';

export interface ApiKeyRecord {
  id: string;
  prefix: string;
  label: string | null;
  scopes: string[];
  namespaces: string[] | null;
  expiresAt: number | null;
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
  lastUsedAt: number | null;
  lastUsedIp: string | null;
  revokedAt: number | null;
  /** the key's own request budget; null = not limited */
  rateLimit: KeyRateLimit | null;
  /** set while a rotated-away key is still accepted */
  previousPrefix: string | null;
  previousValidUntil: number | null;
}

/** What authentication needs: which of the key's hashes matched. */
export interface ApiKeyMatch {
  key: ApiKeyRecord;
  matched: 'current' | 'previous';
}

export interface NewApiKey {
  id: string;
  prefix: string;
  hash: string;
  label: string | null;
  scopes: string[];
  namespaces: string[] | null;
  expiresAt: number | null;
  rateLimit: KeyRateLimit | null;
  now: number;
}

export interface AuditEvent {
  id: string;
  at: number;
  actor: string;
  action: string;
  resourceType: string | null;
  resourceId: string | null;
  namespace: string | null;
  outcome: 'success' | 'failure' | 'denied';
  ip: string | null;
  details: Record<string, unknown> | null;
}

type Row = Record<string, unknown>;

const KEY_COLUMNS = `id, prefix, label, scopes, namespaces, expires_at, enabled, created_at, updated_at, last_used_at, last_used_ip, revoked_at,
  previous_prefix, previous_valid_until, rate_limit`;

function toKey(row: Row): ApiKeyRecord {
  return {
    id: row.id as string,
    prefix: row.prefix as string,
    label: (row.label as string | null) ?? null,
    scopes: fromJson(row.scopes),
    namespaces: row.namespaces === null ? null : fromJson(row.namespaces),
    expiresAt: toMillisOrNull(row.expires_at),
    enabled: Number(row.enabled) === 1,
    createdAt: toMillis(row.created_at),
    updatedAt: toMillis(row.updated_at),
    lastUsedAt: toMillisOrNull(row.last_used_at),
    lastUsedIp: (row.last_used_ip as string | null) ?? null,
    revokedAt: toMillisOrNull(row.revoked_at),
    rateLimit: row.rate_limit === null || row.rate_limit === undefined ? null : fromJson(row.rate_limit),
    previousPrefix: (row.previous_prefix as string | null) ?? null,
    previousValidUntil: toMillisOrNull(row.previous_valid_until),
  };
}

function toAudit(row: Row): AuditEvent {
  return {
    id: row.id as string,
    at: toMillis(row.at),
    actor: row.actor as string,
    action: row.action as string,
    resourceType: (row.resource_type as string | null) ?? null,
    resourceId: (row.resource_id as string | null) ?? null,
    namespace: (row.namespace as string | null) ?? null,
    outcome: row.outcome as AuditEvent['outcome'],
    ip: (row.ip as string | null) ?? null,
    details: row.details === null ? null : fromJson(row.details),
  };
}

/** Managed API keys (hashes only) and audit events. */
export class SqlAccessStore {
  constructor(private readonly db: SqlClient) {}

  /** false when the label is taken by a live key */
  async insertKey(k: NewApiKey): Promise<boolean> {
    const changed = await this.db.run(
      `insert into api_keys (id, prefix, key_hash, label, scopes, namespaces, expires_at, rate_limit, enabled, created_at, updated_at)
       values (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?) on conflict do nothing`,
      [
        k.id,
        k.prefix,
        k.hash,
        k.label,
        toJson(k.scopes),
        k.namespaces === null ? null : toJson(k.namespaces),
        k.expiresAt,
        k.rateLimit === null ? null : toJson(k.rateLimit),
        k.now,
        k.now,
      ],
    );
    return changed > 0;
  }

  async findKeyByHash(hash: string): Promise<ApiKeyMatch | null> {
    const row = await this.db.get<Row>(
      `select ${KEY_COLUMNS}, case when key_hash = ? then 'current' else 'previous' end as matched
         from api_keys where key_hash = ? or previous_key_hash = ? limit 1`,
      [hash, hash, hash],
    );
    return row ? { key: toKey(row), matched: row.matched as 'current' | 'previous' } : null;
  }

  async getKey(id: string): Promise<ApiKeyRecord | null> {
    const row = await this.db.get<Row>(`select ${KEY_COLUMNS} from api_keys where id = ?`, [id]);
    return row ? toKey(row) : null;
  }

  async findLiveKeyByLabel(label: string): Promise<ApiKeyRecord | null> {
    const row = await this.db.get<Row>(`select ${KEY_COLUMNS} from api_keys where label = ? and revoked_at is null`, [label]);
    return row ? toKey(row) : null;
  }

  listKeys(limit: number, offset: number): Promise<{ items: ApiKeyRecord[]; hasMore: boolean }> {
    return new SqlListQuery().page(this.db, `select ${KEY_COLUMNS} from api_keys`, 'id desc', { limit, offset }, toKey);
  }

  /** Is there a key that can authenticate right now? (the server refuses to start otherwise) */
  async hasActiveKey(now: number): Promise<boolean> {
    const row = await this.db.get(
      'select 1 as ok from api_keys where enabled = 1 and revoked_at is null and (expires_at is null or expires_at > ?) limit 1',
      [now],
    );
    return row !== undefined;
  }

  /** Applies the given fields; returns false on a label conflict. */
  async updateKey(
    id: string,
    patch: { label?: string | null; enabled?: boolean; scopes?: string[]; namespaces?: string[] | null; expiresAt?: number | null; rateLimit?: KeyRateLimit | null },
    now: number,
  ): Promise<boolean> {
    const sets: string[] = ['updated_at = ?'];
    const params: SqlParam[] = [now];
    const add = (sql: string, value: SqlParam) => {
      sets.push(sql);
      params.push(value);
    };
    if (patch.label !== undefined) add('label = ?', patch.label);
    if (patch.enabled !== undefined) add('enabled = ?', patch.enabled ? 1 : 0);
    if (patch.scopes !== undefined) add('scopes = ?', toJson(patch.scopes));
    if (patch.namespaces !== undefined) add('namespaces = ?', patch.namespaces === null ? null : toJson(patch.namespaces));
    if (patch.expiresAt !== undefined) add('expires_at = ?', patch.expiresAt);
    if (patch.rateLimit !== undefined) add('rate_limit = ?', patch.rateLimit === null ? null : toJson(patch.rateLimit));
    try {
      await this.db.run(`update api_keys set ${sets.join(', ')} where id = ? and revoked_at is null`, [...params, id]);
      return true;
    } catch (error) {
      if (/unique|constraint/i.test((error as Error).message)) return false;
      throw error;
    }
  }

  async revokeKey(id: string, now: number): Promise<boolean> {
    const changed = await this.db.run(
      'update api_keys set revoked_at = ?, enabled = 0, updated_at = ?, previous_key_hash = null, previous_valid_until = null where id = ? and revoked_at is null',
      [now, now, id],
    );
    return changed > 0;
  }

  /** Swaps in a new secret; the old hash keeps working until `previousValidUntil` (or not at all). */
  async rotateKey(id: string, next: { prefix: string; hash: string }, previousValidUntil: number | null, now: number): Promise<boolean> {
    const changed = await this.db.run(
      `update api_keys set previous_key_hash = case when ? = 1 then key_hash else null end,
              previous_prefix = case when ? = 1 then prefix else null end,
              previous_valid_until = ?, key_hash = ?, prefix = ?, updated_at = ?
        where id = ? and revoked_at is null`,
      [previousValidUntil === null ? 0 : 1, previousValidUntil === null ? 0 : 1, previousValidUntil, next.hash, next.prefix, now, id],
    );
    return changed > 0;
  }

  async touchKey(id: string, at: number, ip: string | null): Promise<void> {
    await this.db.run('update api_keys set last_used_at = ?, last_used_ip = ? where id = ?', [at, ip, id]);
  }

  // ---- audit ------------------------------------------------------------------------------

  async appendAudit(events: readonly AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.db.transaction(async (tx) => {
      for (const e of events) {
        await tx.run(
          `insert into audit_events (id, at, actor, action, resource_type, resource_id, namespace, outcome, ip, details)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [e.id, e.at, e.actor, e.action, e.resourceType, e.resourceId, e.namespace, e.outcome, e.ip, e.details === null ? null : toJson(e.details)],
        );
      }
    });
  }

  queryAudit(q: { limit: number; offset: number; action?: string; actor?: string; since?: number; namespaces?: readonly string[] }): Promise<{ items: AuditEvent[]; hasMore: boolean }> {
    const list = new SqlListQuery().filter('action = ?', q.action).filter('actor = ?', q.actor).filter('at >= ?', q.since);
    // a namespace-restricted reader sees only events about resources in its namespaces
    if (q.namespaces !== undefined) list.where('namespace is not null').namespaces('namespace', q.namespaces);
    return list.page(this.db, 'select * from audit_events', 'id desc', q, toAudit);
  }

  async purgeAuditBefore(cutoff: number): Promise<number> {
    return this.db.run('delete from audit_events where at < ?', [cutoff]);
  }
}

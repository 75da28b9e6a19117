import { LRUCache } from 'lru-cache';
import { EngineError, NotFoundError, ValidationError, ConflictError } from '../errors';
import { newId } from '../runtime/ids';
import type { ApiKeyMatch, ApiKeyRecord } from '../store/sql-access-store';
import type { AccessStore } from '../store/state-store';
import type { AuditLog } from './audit';
import { displayPrefix, generateApiKey, isWellFormedApiKey, KEY_PREFIX } from './key-format';
import { parseKeyRateLimit } from './key-rate-limit';
import { NAMESPACE_GLOB_PATTERN, namespacesBeyond, namespacesWithin } from './namespace-patterns';
import { isScope, SCOPES, type Principal, type Scope } from './scopes';
import { sha256Hex, StaticKeySet } from './static-keys';

export class AuthenticationError extends EngineError {
  constructor(
    code: 'INVALID_API_KEY' | 'API_KEY_EXPIRED',
    message: string,
    /** for the audit trail: malformed, unknown, disabled, revoked, rotated, expired */
    readonly reason: string,
  ) {
    super(code, message);
  }
}

export class ForbiddenError extends EngineError {
  constructor(message: string, details?: unknown) {
    super('FORBIDDEN', message, details);
  }
}

export const CLI_PRINCIPAL: Principal = Object.freeze({ actor: 'cli', kind: 'cli', keyId: null, scopes: new Set(SCOPES), namespaces: undefined });

/** An API-key or secret namespace allow-list entry: a namespace, `team.*` or `*`. */
const MAX_LABEL = 100;

export interface CreateKeyInput {
  label?: string | null;
  scopes: string[];
  namespaces?: string[] | null;
  expiresAt?: number | null;
  /** `{requests, window}` (window a duration such as '1m'); null/omitted = not limited */
  rateLimit?: unknown;
  idempotent?: boolean;
}

export interface UpdateKeyInput {
  label?: string | null;
  enabled?: boolean;
  scopes?: string[];
  namespaces?: string[] | null;
  expiresAt?: number | null;
  /** `{requests, window}`, or null to remove the limit */
  rateLimit?: unknown;
}

type ManagementAction = 'api_key.get' | 'api_key.update' | 'api_key.revoke' | 'api_key.rotate';

/** Longest id echoed into the audit trail (the path parameter is client input). */
const MAX_AUDITED_ID = 128;

function labelTaken(label: string | null): ConflictError {
  return new ConflictError('CONFLICT', `an API key labelled '${label}' already exists; choose another label`);
}

interface CachedKey {
  match: ApiKeyMatch | null;
  principal: Principal | null;
}

/**
 * Managed API keys: creation (plaintext returned once, only the SHA-256 stored), listing,
 * updates, revocation, rotation with a grace period, and authentication.
 *
 * Authentication is a checksum check (no store lookup for a malformed key), then an in-process
 * cache of verified keys. Changes made through this process clear the cache at once; other
 * processes see them when their cached entry expires (`cacheTtlMs`, default 5 s).
 */
export class ApiKeyManager {
  private readonly cache: LRUCache<string, CachedKey>;
  private readonly lastTouched = new Map<string, number>();

  constructor(
    private readonly store: AccessStore,
    private readonly audit: AuditLog,
    private readonly staticKeys: StaticKeySet,
    private readonly options: { cacheTtlMs: number; lastUsedWriteIntervalMs: number; onFailure?: (reason: string) => void },
  ) {
    this.cache = new LRUCache({ max: 10_000, ttl: Math.max(1, options.cacheTtlMs), ttlAutopurge: false });
  }

  get hasStaticKeys(): boolean {
    return this.staticKeys.size > 0;
  }

  hasActiveManagedKey(): Promise<boolean> {
    return this.store.hasActiveKey(Date.now());
  }

  // ---- authentication (hot path) ------------------------------------------------------------

  async authenticate(presented: string, ip: string | null): Promise<Principal> {
    const digest = sha256Hex(presented);
    const staticPrincipal = this.staticKeys.match(digest);
    if (staticPrincipal) return staticPrincipal;
    const prefix = presented.startsWith(KEY_PREFIX) ? displayPrefix(presented) : null;
    if (!isWellFormedApiKey(presented)) throw this.fail(ip, prefix, 'INVALID_API_KEY', 'malformed');

    let cached = this.cache.get(digest);
    if (!cached) {
      const match = await this.store.findKeyByHash(digest);
      cached = { match, principal: match ? this.principalOf(match.key) : null };
      this.cache.set(digest, cached);
    }
    const { match, principal } = cached;
    if (!match || !principal) throw this.fail(ip, prefix, 'INVALID_API_KEY', 'unknown');
    const { key } = match;
    const now = Date.now();
    if (key.revokedAt !== null) throw this.fail(ip, prefix, 'INVALID_API_KEY', 'revoked');
    if (!key.enabled) throw this.fail(ip, prefix, 'INVALID_API_KEY', 'disabled');
    if (match.matched === 'previous' && (key.previousValidUntil ?? 0) <= now) throw this.fail(ip, prefix, 'INVALID_API_KEY', 'rotated');
    if (key.expiresAt !== null && key.expiresAt <= now) throw this.fail(ip, prefix, 'API_KEY_EXPIRED', 'expired');
    this.touch(key.id, now, ip);
    return principal;
  }

  /** Records a failure that happened before any key could be read (e.g. no credentials). */
  recordFailure(ip: string | null, prefix: string | null, reason: string): void {
    this.options.onFailure?.(reason);
    this.audit.authFailure(ip, prefix, reason);
  }

  private fail(ip: string | null, prefix: string | null, code: 'INVALID_API_KEY' | 'API_KEY_EXPIRED', reason: string): AuthenticationError {
    this.options.onFailure?.(reason);
    this.audit.authFailure(ip, prefix, reason);
    return code === 'API_KEY_EXPIRED'
      ? new AuthenticationError(code, 'the API key has expired; create or rotate a key', reason)
      : new AuthenticationError(code, 'the API key is not valid', reason);
  }

  private principalOf(key: ApiKeyRecord): Principal {
    return Object.freeze({
      actor: key.prefix,
      kind: 'managed' as const,
      keyId: key.id,
      scopes: new Set(key.scopes.filter(isScope)),
      namespaces: key.namespaces ?? undefined,
      ...(key.rateLimit ? { rateLimit: Object.freeze({ ...key.rateLimit }) } : {}),
    });
  }

  /** lastUsedAt is written at most once per interval per key: the hot path does not write. */
  private touch(keyId: string, now: number, ip: string | null): void {
    const last = this.lastTouched.get(keyId) ?? 0;
    if (now - last < this.options.lastUsedWriteIntervalMs) return;
    this.lastTouched.set(keyId, now);
    if (this.lastTouched.size > 50_000) this.lastTouched.clear();
    void this.store.touchKey(keyId, now, ip).catch(() => undefined);
  }

  private invalidate(): void {
    this.cache.clear();
  }

  // ---- management -------------------------------------------------------------------------
  //
  // A manager's authority is its scopes and namespaces. A key outside it does not exist for the
  // manager: every verb answers exactly what it answers for an id that does not exist (404, same
  // message, same audit event), so no answer, status or audit entry tells the two apart.

  private validateScopes(scopes: unknown, field = 'scopes'): Scope[] {
    if (!Array.isArray(scopes) || scopes.length === 0) throw new ValidationError([{ field, message: `must be a non-empty list of: ${SCOPES.join(', ')}` }]);
    const unknown = scopes.filter((s) => typeof s !== 'string' || !isScope(s));
    if (unknown.length) throw new ValidationError([{ field, message: `unknown scope(s) ${unknown.map(String).join(', ')}; allowed: ${SCOPES.join(', ')}` }]);
    return [...new Set(scopes as Scope[])];
  }

  private validateNamespaces(namespaces: unknown): string[] | null {
    if (namespaces === null || namespaces === undefined) return null;
    if (!Array.isArray(namespaces) || namespaces.length === 0 || namespaces.length > 100) {
      throw new ValidationError([{ field: 'namespaces', message: 'must be a non-empty list (or omitted/null for every namespace)' }]);
    }
    const bad = namespaces.filter((n) => typeof n !== 'string' || n.length > 200 || !NAMESPACE_GLOB_PATTERN.test(n));
    if (bad.length) throw new ValidationError([{ field: 'namespaces', message: `invalid namespace pattern(s) ${bad.map(String).join(', ')}; use names like 'team-a' or globs like 'ops.*'` }]);
    return [...new Set(namespaces as string[])];
  }

  private validateLabel(label: unknown): string | null {
    if (label === null || label === undefined) return null;
    if (typeof label !== 'string' || label.trim().length === 0 || label.length > MAX_LABEL) {
      throw new ValidationError([{ field: 'label', message: `must be a non-empty string of at most ${MAX_LABEL} characters` }]);
    }
    return label;
  }

  private validateExpiry(expiresAt: unknown, now: number): number | null {
    if (expiresAt === null || expiresAt === undefined) return null;
    if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) throw new ValidationError([{ field: 'expiresAt', message: 'must be an ISO-8601 date-time' }]);
    if (expiresAt <= now) throw new ValidationError([{ field: 'expiresAt', message: 'must be in the future' }]);
    return expiresAt;
  }

  /** Whether `key` lies within the caller's authority: its scopes within the caller's, its namespaces within the caller's. */
  private withinAuthority(caller: Principal, key: ApiKeyRecord): boolean {
    if (!caller.scopes.has('admin') && key.scopes.some((s) => s === 'admin' || !caller.scopes.has(s as Scope))) return false;
    return namespacesWithin(key.namespaces, caller.namespaces);
  }

  /**
   * No escalation: what the caller grants must be within what the caller holds. The 403 names
   * only what the request asked for, never anything about another key.
   */
  private assertGrantWithinCaller(
    caller: Principal & { ip?: string | null },
    action: 'api_key.create' | 'api_key.update',
    resourceId: string | null,
    scopes: readonly string[],
    namespaces: readonly string[] | null,
  ): void {
    let error: ForbiddenError | null = null;
    if (!caller.scopes.has('admin')) {
      const beyond = scopes.filter((s) => s === 'admin' || !caller.scopes.has(s as Scope));
      if (beyond.length) error = new ForbiddenError(`a key cannot grant scopes it does not hold: ${beyond.join(', ')}`, { requiredScopes: beyond });
    }
    if (!error && !namespacesWithin(namespaces, caller.namespaces)) {
      error =
        namespaces === null
          ? new ForbiddenError('a namespace-restricted key cannot grant access to every namespace; list namespaces within your own')
          : new ForbiddenError(`a key cannot grant namespaces outside its own: ${namespacesBeyond(namespaces, caller.namespaces).join(', ')}`);
    }
    if (!error) return;
    this.audit.record(caller, { action, resourceType: 'api-key', resourceId, outcome: 'denied', details: { reason: 'grant beyond the caller', message: error.message } });
    throw error;
  }

  /**
   * The key, when it exists and lies within the caller's authority; otherwise the same 404 (and
   * the same `denied` audit event) whether it is missing or someone else's.
   */
  private async manageable(caller: Principal & { ip?: string | null }, action: ManagementAction, id: string): Promise<ApiKeyRecord> {
    const key = await this.store.getKey(id);
    if (key && this.withinAuthority(caller, key)) return key;
    this.audit.record(caller, { action, resourceType: 'api-key', resourceId: id.slice(0, MAX_AUDITED_ID), outcome: 'denied', details: { reason: 'not found' } });
    throw new NotFoundError('api key', id);
  }

  async create(caller: Principal & { ip?: string | null }, input: CreateKeyInput): Promise<{ created: boolean; key: ApiKeyRecord; plaintext: string | null }> {
    const now = Date.now();
    const scopes = this.validateScopes(input.scopes);
    const namespaces = this.validateNamespaces(input.namespaces);
    const label = this.validateLabel(input.label);
    const expiresAt = this.validateExpiry(input.expiresAt, now);
    const rateLimit = parseKeyRateLimit(input.rateLimit);
    this.assertGrantWithinCaller(caller, 'api_key.create', null, scopes, namespaces);
    const generated = generateApiKey();
    const id = newId();
    const inserted = await this.store.insertKey({ id, prefix: generated.prefix, hash: generated.hash, label, scopes, namespaces, expiresAt, rateLimit, now });
    if (!inserted) {
      const existing = label !== null ? await this.store.findLiveKeyByLabel(label) : null;
      // idempotent replays return only a key the caller could see anyway; another team's key
      // with that label answers exactly like a plain conflict
      if (existing && input.idempotent && this.withinAuthority(caller, existing)) return { created: false, key: existing, plaintext: null };
      this.audit.record(caller, { action: 'api_key.create', resourceType: 'api-key', resourceId: null, outcome: 'denied', details: { reason: 'label taken', label } });
      throw labelTaken(label);
    }
    const key = (await this.store.getKey(id))!;
    this.audit.record(caller, { action: 'api_key.create', resourceType: 'api-key', resourceId: id, details: { prefix: key.prefix, label, scopes, namespaces, expiresAt, rateLimit } });
    return { created: true, key, plaintext: generated.key };
  }

  /**
   * Keys within the caller's authority, newest first. Unrestricted admins (static keys, the CLI,
   * admin keys without namespaces) page in SQL; everyone else is filtered here (key tables are
   * small, and filtering before slicing keeps paging exact).
   */
  async list(caller: Principal, limit: number, offset: number): Promise<{ items: ApiKeyRecord[]; hasMore: boolean }> {
    if (caller.scopes.has('admin') && caller.namespaces === undefined) return this.store.listKeys(limit, offset);
    const all = (await this.store.listKeys(100_000, 0)).items.filter((key) => this.withinAuthority(caller, key));
    return { items: all.slice(offset, offset + limit), hasMore: all.length > offset + limit };
  }

  async get(caller: Principal & { ip?: string | null }, id: string): Promise<ApiKeyRecord> {
    return this.manageable(caller, 'api_key.get', id);
  }

  async update(caller: Principal & { ip?: string | null }, id: string, patch: UpdateKeyInput): Promise<ApiKeyRecord> {
    const key = await this.manageable(caller, 'api_key.update', id);
    if (key.revokedAt !== null) throw new ConflictError('CONFLICT', `api key ${id} is revoked; revoked keys cannot change`);
    const now = Date.now();
    const next: UpdateKeyInput & { rateLimit?: ReturnType<typeof parseKeyRateLimit> } = {};
    if (patch.label !== undefined) next.label = this.validateLabel(patch.label);
    if (patch.enabled !== undefined) next.enabled = patch.enabled;
    if (patch.scopes !== undefined) next.scopes = this.validateScopes(patch.scopes);
    if (patch.namespaces !== undefined) next.namespaces = this.validateNamespaces(patch.namespaces);
    if (patch.expiresAt !== undefined) next.expiresAt = this.validateExpiry(patch.expiresAt, now);
    if (patch.rateLimit !== undefined) next.rateLimit = parseKeyRateLimit(patch.rateLimit);
    this.assertGrantWithinCaller(caller, 'api_key.update', id, next.scopes ?? key.scopes, next.namespaces !== undefined ? next.namespaces : key.namespaces);
    if (!(await this.store.updateKey(id, next, now))) throw labelTaken(next.label ?? null);
    this.invalidate();
    this.audit.record(caller, { action: 'api_key.update', resourceType: 'api-key', resourceId: id, details: { prefix: key.prefix, changes: next } });
    return (await this.store.getKey(id))!;
  }

  async revoke(caller: Principal & { ip?: string | null }, id: string): Promise<ApiKeyRecord> {
    const key = await this.manageable(caller, 'api_key.revoke', id);
    if (key.revokedAt === null) {
      await this.store.revokeKey(id, Date.now());
      this.invalidate();
      this.audit.record(caller, { action: 'api_key.revoke', resourceType: 'api-key', resourceId: id, details: { prefix: key.prefix } });
    }
    return (await this.store.getKey(id))!;
  }

  async rotate(caller: Principal & { ip?: string | null }, id: string, graceSeconds = 0): Promise<{ key: ApiKeyRecord; plaintext: string }> {
    if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > 30 * 86_400) {
      throw new ValidationError([{ field: 'graceSeconds', message: 'must be an integer between 0 and 2592000 (30 days)' }]);
    }
    const key = await this.manageable(caller, 'api_key.rotate', id);
    if (key.revokedAt !== null) throw new ConflictError('CONFLICT', `api key ${id} is revoked; create a new key instead`);
    const now = Date.now();
    const generated = generateApiKey();
    await this.store.rotateKey(id, generated, graceSeconds > 0 ? now + graceSeconds * 1000 : null, now);
    this.invalidate();
    this.audit.record(caller, { action: 'api_key.rotate', resourceType: 'api-key', resourceId: id, details: { previousPrefix: key.prefix, prefix: generated.prefix, graceSeconds } });
    return { key: (await this.store.getKey(id))!, plaintext: generated.key };
  }
}

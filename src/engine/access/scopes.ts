import type { KeyRateLimit } from './key-rate-limit';

/** The scopes of docs/api.md (Authentication). `admin` implies every other scope. */
export const SCOPES = [
  'admin',
  'workflows:read',
  'workflows:write',
  'executions:read',
  'executions:write',
  'logs:read',
  'api-keys:manage',
  'audit:read',
  'tools:invoke',
] as const;
export type Scope = (typeof SCOPES)[number];

/** Who is calling: the result of authenticating a key. */
export interface Principal {
  /** 'static' for config keys, the key prefix for managed keys, 'cli' for the command line */
  actor: string;
  kind: 'static' | 'managed' | 'cli';
  keyId: string | null;
  scopes: ReadonlySet<Scope>;
  /** undefined = every namespace */
  namespaces: readonly string[] | undefined;
  /** a managed key's own request budget (enforced per process by the HTTP guard); absent = none */
  rateLimit?: KeyRateLimit;
  /** the client address, when the principal came from an HTTP request */
  ip?: string | null;
}

/** Who performs an engine operation: for namespace filtering and the audit trail. */
export interface Caller {
  actor: string;
  ip?: string | null;
  /** undefined = every namespace */
  namespaces?: readonly string[];
}

export const CLI_CALLER: Caller = { actor: 'cli', ip: null };

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

export function hasScopes(principal: Principal, required: readonly Scope[]): boolean {
  if (principal.scopes.has('admin')) return true;
  return required.every((scope) => principal.scopes.has(scope));
}

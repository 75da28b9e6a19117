import { createHash, timingSafeEqual } from 'node:crypto';
import { SCOPES, type Principal } from './scopes';

export const MIN_STATIC_KEY_LENGTH = 32;
const HASHED_ENTRY = /^sha256:([0-9a-fA-F]{64})$/;

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** Validates `server.apiKeys` entries; returns one problem line per bad entry (never echoing the key). */
export function staticKeyProblems(entries: readonly string[]): string[] {
  const problems: string[] = [];
  entries.forEach((entry, index) => {
    if (entry.startsWith('sha256:')) {
      if (!HASHED_ENTRY.test(entry)) problems.push(`server.apiKeys[${index}]: a hashed entry must be 'sha256:' followed by 64 hex characters`);
    } else if (entry.length < MIN_STATIC_KEY_LENGTH) {
      problems.push(
        `server.apiKeys[${index}]: a plaintext key must be at least ${MIN_STATIC_KEY_LENGTH} characters (this one has ${entry.length}); generate one with: openssl rand -base64 32`,
      );
    }
  });
  return problems;
}

const STATIC_PRINCIPAL: Principal = Object.freeze({
  actor: 'static',
  kind: 'static',
  keyId: null,
  scopes: new Set(SCOPES),
  namespaces: undefined,
});

/**
 * Static keys from configuration, held only as SHA-256 digests. A presented key is hashed and
 * looked up by digest, then compared in constant time: timing reveals nothing about the keys.
 */
export class StaticKeySet {
  private readonly digests = new Map<string, Buffer>();

  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const match = HASHED_ENTRY.exec(entry);
      const hex = match ? match[1].toLowerCase() : sha256Hex(entry);
      this.digests.set(hex, Buffer.from(hex, 'hex'));
    }
  }

  get size(): number {
    return this.digests.size;
  }

  /** `digestHex` is sha256(presented key) */
  match(digestHex: string): Principal | undefined {
    const stored = this.digests.get(digestHex);
    if (!stored) return undefined;
    return timingSafeEqual(stored, Buffer.from(digestHex, 'hex')) ? STATIC_PRINCIPAL : undefined;
  }
}

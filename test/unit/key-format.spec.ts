/**
 * Managed key format (issue 4, DESIGN §7): `ak_` + 32 random base62 + 6 base62 of CRC32 over the
 * rest; a malformed or mistyped key fails the checksum before any store lookup. No fast-check in
 * this project: the properties are driven by plain loops over many generated keys.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { displayPrefix, generateApiKey, hashApiKey, isWellFormedApiKey, KEY_LENGTH, KEY_PREFIX, DISPLAY_PREFIX_LENGTH } from '../../src/engine/access/key-format';
import { namespaceAllowed, namespacePatternCovers } from '../../src/engine/access/namespace-patterns';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SHAPE = /^ak_[0-9A-Za-z]{38}$/;

/** An independent CRC-32 (IEEE 802.3, reflected, 0xEDB88320): pins the checksum for secret scanners. */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(text: string): number {
  let crc = 0xffffffff;
  for (const byte of Buffer.from(text, 'utf8')) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function base62(value: number, width: number): string {
  let out = '';
  let n = value;
  for (let i = 0; i < width; i++) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

/** A well-formed key built independently of the implementation (same published format). */
function handMadeKey(body32: string): string {
  const body = `ak_${body32}`;
  return body + base62(crc32(body), 6);
}

function randomBase62(length: number): string {
  let out = '';
  for (const byte of randomBytes(length * 4)) {
    if (byte < 248) out += BASE62[byte % 62];
    if (out.length === length) break;
  }
  return out;
}

const SAMPLE = 2000;
const keys = Array.from({ length: SAMPLE }, () => generateApiKey());

describe('generateApiKey', () => {
  it('produces `ak_` + 38 base62 characters (41 in all), every time', () => {
    expect(KEY_PREFIX).toBe('ak_');
    expect(KEY_LENGTH).toBe(41);
    for (const { key } of keys) {
      expect(key).toMatch(SHAPE);
      expect(key).toHaveLength(41);
    }
  });

  it('ends with 6 base62 characters of the CRC32 of everything before them', () => {
    for (const { key } of keys) {
      const body = key.slice(0, 35);
      expect(key.slice(35)).toBe(base62(crc32(body), 6));
    }
  });

  it('returns the first 12 characters as the prefix and the SHA-256 hex of the full key as the hash', () => {
    expect(DISPLAY_PREFIX_LENGTH).toBe(12);
    for (const { key, prefix, hash } of keys.slice(0, 200)) {
      expect(prefix).toBe(key.slice(0, 12));
      expect(prefix.startsWith('ak_')).toBe(true);
      expect(hash).toBe(createHash('sha256').update(key, 'utf8').digest('hex'));
      expect(hash).toMatch(/^[0-9a-f]{64}$/);
      expect(hash).not.toContain(key.slice(3, 35));
    }
  });

  it('never repeats a key, a random body or a hash over many draws', () => {
    expect(new Set(keys.map((k) => k.key)).size).toBe(SAMPLE);
    expect(new Set(keys.map((k) => k.key.slice(3, 35))).size).toBe(SAMPLE);
    expect(new Set(keys.map((k) => k.hash)).size).toBe(SAMPLE);
  });

  it('draws the 32 random characters from the whole base62 alphabet without visible bias', () => {
    const counts = new Map<string, number>();
    for (const { key } of keys) for (const ch of key.slice(3, 35)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    // 64 000 characters over 62 symbols: ~1032 each; a modulo bias or a missing symbol shows up far outside this band
    expect(counts.size).toBe(62);
    for (const [ch, count] of counts) {
      expect(count, ch).toBeGreaterThan(800);
      expect(count, ch).toBeLessThan(1300);
    }
  });
});

describe('isWellFormedApiKey', () => {
  it('accepts every generated key', () => {
    for (const { key } of keys) expect(isWellFormedApiKey(key), key).toBe(true);
  });

  it('accepts a key built independently from the published format (prefix, base62 body, CRC32 suffix)', () => {
    for (let i = 0; i < 200; i++) expect(isWellFormedApiKey(handMadeKey(randomBase62(32)))).toBe(true);
  });

  it('rejects every single-character substitution of a valid key, at every position', () => {
    for (const { key } of keys.slice(0, 20)) {
      for (let pos = 0; pos < key.length; pos++) {
        for (const ch of `${BASE62}_-`) {
          if (ch === key[pos]) continue;
          const changed = key.slice(0, pos) + ch + key.slice(pos + 1);
          if (isWellFormedApiKey(changed)) throw new Error(`${changed} (position ${pos} of ${key}) passed the checksum`);
        }
      }
    }
  });

  it('rejects every swap of two adjacent different characters', () => {
    for (const { key } of keys.slice(0, 200)) {
      for (let pos = 3; pos < key.length - 1; pos++) {
        if (key[pos] === key[pos + 1]) continue;
        const swapped = key.slice(0, pos) + key[pos + 1] + key[pos] + key.slice(pos + 2);
        expect(isWellFormedApiKey(swapped), `${swapped} from ${key}`).toBe(false);
      }
    }
  });

  it('rejects made-up keys of the right shape (the checksum does not match by chance)', () => {
    for (let i = 0; i < 20_000; i++) expect(isWellFormedApiKey(`ak_${randomBase62(38)}`)).toBe(false);
  });

  it('rejects truncated, extended and padded keys', () => {
    for (const { key } of keys.slice(0, 100)) {
      for (let len = 0; len < key.length; len++) expect(isWellFormedApiKey(key.slice(0, len))).toBe(false);
      expect(isWellFormedApiKey(`${key}0`)).toBe(false);
      expect(isWellFormedApiKey(`0${key}`)).toBe(false);
      expect(isWellFormedApiKey(` ${key}`)).toBe(false);
      expect(isWellFormedApiKey(`${key} `)).toBe(false);
      expect(isWellFormedApiKey(`${key}\n`)).toBe(false);
      expect(isWellFormedApiKey(key + key)).toBe(false);
    }
  });

  it('rejects a valid key with another prefix or with changed letter case', () => {
    for (const { key } of keys.slice(0, 100)) {
      expect(isWellFormedApiKey(`AK_${key.slice(3)}`)).toBe(false);
      expect(isWellFormedApiKey(`ak-${key.slice(3)}`)).toBe(false);
      expect(isWellFormedApiKey(`sk_${key.slice(3)}`)).toBe(false);
      if (key.slice(3) !== key.slice(3).toUpperCase()) expect(isWellFormedApiKey(`ak_${key.slice(3).toUpperCase()}`)).toBe(false);
      if (key.slice(3) !== key.slice(3).toLowerCase()) expect(isWellFormedApiKey(`ak_${key.slice(3).toLowerCase()}`)).toBe(false);
    }
  });

  it('rejects non-base62 characters even when the length is right, including look-alike unicode', () => {
    const key = keys[0].key;
    for (const ch of ['+', '/', '=', '.', '~', ' ', '\u0000', 'é', 'О' /* Cyrillic O */, '０']) {
      const changed = key.slice(0, 20) + ch + key.slice(21);
      expect(isWellFormedApiKey(changed), JSON.stringify(changed)).toBe(false);
    }
  });

  it('rejects the empty string, a static-style key and a SHA-256 digest', () => {
    expect(isWellFormedApiKey('')).toBe(false);
    expect(isWellFormedApiKey(randomBytes(24).toString('hex'))).toBe(false);
    expect(isWellFormedApiKey(keys[0].hash)).toBe(false);
    expect(isWellFormedApiKey('ak_')).toBe(false);
    expect(isWellFormedApiKey('ak_'.padEnd(41, '0'))).toBe(false);
  });
});

describe('hashApiKey and displayPrefix', () => {
  it('hashApiKey is the SHA-256 hex of the UTF-8 key and differs for keys one character apart', () => {
    const { key } = keys[1];
    expect(hashApiKey(key)).toBe(createHash('sha256').update(key).digest('hex'));
    const other = key.slice(0, -1) + (key.at(-1) === 'a' ? 'b' : 'a');
    expect(hashApiKey(other)).not.toBe(hashApiKey(key));
  });

  it('displayPrefix is the first 12 characters and never the random part beyond them', () => {
    for (const { key } of keys.slice(0, 100)) {
      expect(displayPrefix(key)).toBe(key.slice(0, 12));
      expect(displayPrefix(key)).toHaveLength(12);
    }
  });
});

describe('namespace patterns', () => {
  it("'ops.*' covers 'ops' itself and every descendant, and nothing that merely starts with 'ops'", () => {
    const scope = ['team-a', 'ops.*'];
    for (const ns of ['team-a', 'ops', 'ops.x', 'ops.x.y']) expect(namespaceAllowed(ns, scope), ns).toBe(true);
    for (const ns of ['team-ab', 'team', 'team-a.sub', 'opsx', 'ops-x', 'xops', 'default', 'op']) expect(namespaceAllowed(ns, scope), ns).toBe(false);
  });

  it('no scope means every namespace; an empty list means none', () => {
    expect(namespaceAllowed('anything', undefined)).toBe(true);
    expect(namespaceAllowed('anything', [])).toBe(false);
    expect(namespaceAllowed('anything', ['*'])).toBe(true);
  });

  it('namespacePatternCovers: a grant is covered only when it stays inside the holder\'s patterns', () => {
    expect(namespacePatternCovers('ops.*', 'ops')).toBe(true);
    expect(namespacePatternCovers('ops.*', 'ops.x')).toBe(true);
    expect(namespacePatternCovers('ops.*', 'ops.x.*')).toBe(true);
    expect(namespacePatternCovers('ops.*', 'ops.*')).toBe(true);
    expect(namespacePatternCovers('ops.*', 'opsx')).toBe(false);
    expect(namespacePatternCovers('ops.*', '*')).toBe(false);
    expect(namespacePatternCovers('team-a', 'team-a')).toBe(true);
    expect(namespacePatternCovers('team-a', 'team-a.*')).toBe(false);
    expect(namespacePatternCovers('team-a', 'team-a.sub')).toBe(false);
    expect(namespacePatternCovers('*', 'anything.*')).toBe(true);
  });
});

import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * Managed key format: `ak_` + 32 random base62 characters + 6 base62 characters of CRC32 over
 * the rest (as GitHub tokens do). A mistyped or made-up key fails the checksum and is rejected
 * before any store lookup; secret scanners can recognise the shape.
 */
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const RANDOM_CHARS = 32;
const CHECKSUM_CHARS = 6;
export const KEY_PREFIX = 'ak_';
export const KEY_LENGTH = KEY_PREFIX.length + RANDOM_CHARS + CHECKSUM_CHARS;
/** what identifies a key in lists, logs and audit entries */
export const DISPLAY_PREFIX_LENGTH = 12;
const KEY_SHAPE = /^ak_[0-9A-Za-z]{38}$/;

function base62(value: number, width: number): string {
  let out = '';
  let n = value;
  for (let i = 0; i < width; i++) {
    out = ALPHABET[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

function checksum(body: string): string {
  return base62(crc32(body) >>> 0, CHECKSUM_CHARS);
}

/** Rejection sampling keeps every character uniformly random (no modulo bias). */
function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248) out += ALPHABET[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

export function generateApiKey(): { key: string; prefix: string; hash: string } {
  const body = KEY_PREFIX + randomBase62(RANDOM_CHARS);
  const key = body + checksum(body);
  return { key, prefix: key.slice(0, DISPLAY_PREFIX_LENGTH), hash: hashApiKey(key) };
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Shape and checksum only; says nothing about whether the key exists. */
export function isWellFormedApiKey(candidate: string): boolean {
  if (candidate.length !== KEY_LENGTH || !KEY_SHAPE.test(candidate)) return false;
  return checksum(candidate.slice(0, KEY_LENGTH - CHECKSUM_CHARS)) === candidate.slice(KEY_LENGTH - CHECKSUM_CHARS);
}

export function displayPrefix(candidate: string): string {
  return candidate.slice(0, DISPLAY_PREFIX_LENGTH);
}

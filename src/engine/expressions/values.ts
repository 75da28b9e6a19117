import { ExpressionError } from './errors';

/** Default cap on the number of values (nodes) in one expression's result. */
export const DEFAULT_MAX_RESULT_NODES = 1_000_000;

function tag(v: object): string {
  return Object.prototype.toString.call(v); // "[object Type<int>]", "[object google.protobuf.Duration]", ...
}

/**
 * Converts a CEL result into a plain JSON-compatible JS value:
 * int (BigInt) and uint -> number, bytes -> base64 string, timestamp -> ISO-8601 string,
 * duration -> "1.5s", type -> its name, optional -> its value or null, Map -> object,
 * Set -> array. Non-finite numbers (1.0 / 0.0) are an error: JSON cannot carry them.
 * Throws a plain Error with the reason; the caller wraps it in an ExpressionError.
 */
export function toPlain(value: unknown, maxNodes = DEFAULT_MAX_RESULT_NODES): unknown {
  let budget = maxNodes;
  const walk = (v: unknown, depth: number): unknown => {
    if (--budget < 0) throw new Error(`result is too large (more than ${maxNodes} values)`);
    if (depth > 256) throw new Error('result is nested too deeply');
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return v;
      case 'number':
        if (!Number.isFinite(v)) throw new Error(`result is not a finite number (${v})`);
        return Object.is(v, -0) ? 0 : v;
      case 'bigint':
        return Number(v);
      case 'undefined':
        return null;
      case 'object': {
        if (v === null) return null;
        if (Array.isArray(v) || v instanceof Set) {
          const out: unknown[] = [];
          for (const x of v) out.push(walk(x, depth + 1));
          return out;
        }
        if (v instanceof Map) {
          const out: Record<string, unknown> = {};
          for (const [k, x] of v) define(out, String(k), walk(x, depth + 1));
          return out;
        }
        if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
        if (v instanceof Date) {
          if (Number.isNaN(v.getTime())) throw new Error('result is an invalid timestamp');
          return v.toISOString();
        }
        const proto = Object.getPrototypeOf(v);
        if (proto === Object.prototype || proto === null) {
          const out: Record<string, unknown> = {};
          for (const k of Object.keys(v)) define(out, k, walk((v as Record<string, unknown>)[k], depth + 1));
          return out;
        }
        const t = tag(v);
        if (t.startsWith('[object Type<')) return (v as { name: string }).name;
        if (t === '[object google.protobuf.Duration]') return String(v);
        const ctor = (v as { constructor?: { name?: string } }).constructor?.name;
        if (ctor === 'UnsignedInt' || ctor === 'UnsignedInteger') return Number((v as { valueOf(): unknown }).valueOf());
        if (ctor === 'Optional' && typeof (v as { hasValue?: unknown }).hasValue === 'function') {
          const o = v as { hasValue(): boolean; value(): unknown };
          return o.hasValue() ? walk(o.value(), depth + 1) : null;
        }
        throw new Error(`result of type ${ctor ?? t} cannot be converted to JSON`);
      }
      default:
        throw new Error(`result of type ${typeof v} cannot be converted to JSON`);
    }
  };
  return walk(value, 0);
}

function define(target: Record<string, unknown>, key: string, value: unknown): void {
  // defineProperty: a key named "__proto__" stays an ordinary own property
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** The string form of a plain value inside a larger string: null -> '', objects/lists -> JSON. */
export function stringify(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

const TRUE_WORDS = new Set(['true', 'yes', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'no', 'off', '0', '', 'null']);

/**
 * Condition truthiness (the `if` task):
 * - boolean: itself
 * - null: false
 * - number: false when 0 (or NaN), true otherwise
 * - string (trimmed, case-insensitive): 'true' 'yes' 'on' '1' -> true; 'false' 'no' 'off' '0'
 *   'null' '' -> false; any other string is an error (it is almost always a mistake)
 * - list / map: true when non-empty
 * Returns undefined when the value has no truth value (the caller raises an ExpressionError).
 */
export function truthiness(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === null || value === undefined) return false;
  if (typeof value === 'number') return value !== 0 && !Number.isNaN(value);
  if (typeof value === 'bigint') return value !== 0n;
  if (typeof value === 'string') {
    const w = value.trim().toLowerCase();
    if (TRUE_WORDS.has(w)) return true;
    if (FALSE_WORDS.has(w)) return false;
    return undefined;
  }
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return undefined;
}

/** Like truthiness, but throws an ExpressionError naming the condition when there is no answer. */
export function toCondition(value: unknown, expression: string): boolean {
  const b = truthiness(value);
  if (b === undefined) {
    const kind = typeof value === 'string' ? 'a string that is not true/false/yes/no/on/off/1/0' : typeof value;
    throw ExpressionError.of(expression, `condition must evaluate to a boolean, got ${kind}`);
  }
  return b;
}

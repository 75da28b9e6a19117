import { closestMatch, unknownPropertyMessage, type Path } from './diagnostics';
import { DURATION_HINT, parseDurationMs } from './duration';

export type Report = (path: Path, message: string) => void;

/**
 * Validates and converts one property value. Returns undefined after reporting a problem (a
 * document parsed from YAML never holds undefined, so it is free to mean "invalid").
 */
export type Reader<T> = (value: unknown, path: Path, report: Report) => T | undefined;

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own-property assignment that is safe for any key (a plain `obj[key] =` treats `__proto__` specially). */
export function setEntry(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

const MAX_UNKNOWN_REPORTED = 100;

/**
 * Checks that `value` is a mapping with only `allowed` keys and all `required` ones. Returns the
 * mapping (even if some keys were wrong, so the caller can keep checking) or null.
 */
export function readProperties(
  value: unknown,
  path: Path,
  report: Report,
  allowed: readonly string[],
  required: readonly string[],
): Record<string, unknown> | null {
  if (!isMapping(value)) {
    report(path, 'must be a mapping');
    return null;
  }
  // `mesage: hi` is one mistake, not two: the "did you mean" already names the missing property.
  const suggested = new Set<string>();
  let unknown = 0;
  for (const key of Object.keys(value)) {
    if (allowed.includes(key)) continue;
    // A mapping with thousands of stray keys gets a summary, not thousands of suggestions.
    if (++unknown > MAX_UNKNOWN_REPORTED) continue;
    const suggestion = closestMatch(key, allowed);
    report([...path, key], unknownPropertyMessage(key, allowed, suggestion));
    if (suggestion !== null) suggested.add(suggestion);
  }
  if (unknown > MAX_UNKNOWN_REPORTED) {
    report(path, `${unknown - MAX_UNKNOWN_REPORTED} more unknown properties (allowed: ${allowed.join(', ')})`);
  }
  for (const key of required) {
    if (!(key in value) && !suggested.has(key)) report([...path, key], `missing required property '${key}'`);
  }
  return value;
}

export const readString: Reader<string> = (value, path, report) => {
  if (typeof value === 'string') return value;
  report(path, 'must be a string');
  return undefined;
};

export function readNonEmptyString(what = 'must not be empty'): Reader<string> {
  return (value, path, report) => {
    const text = readString(value, path, report);
    if (text === undefined) return undefined;
    if (text.trim() === '') {
      report(path, what);
      return undefined;
    }
    return text;
  };
}

export function readPattern(pattern: RegExp, description: string): Reader<string> {
  return (value, path, report) => {
    const text = readString(value, path, report);
    if (text === undefined) return undefined;
    if (!pattern.test(text)) {
      report(path, `'${text}' is not valid: ${description}`);
      return undefined;
    }
    return text;
  };
}

/** `ignoreCase` accepts any spelling and returns the canonical one from `values`. */
export function readOneOf<T extends string>(values: readonly T[], options: { ignoreCase?: boolean } = {}): Reader<T> {
  return (value, path, report) => {
    if (typeof value === 'string') {
      const found = values.find((v) => (options.ignoreCase ? v.toLowerCase() === value.toLowerCase() : v === value));
      if (found !== undefined) return found;
      const suggestion = closestMatch(value, values);
      report(path, suggestion && suggestion !== value
        ? `'${value}' is not allowed; did you mean '${suggestion}'? (one of ${values.join(', ')})`
        : `must be one of ${values.join(', ')}`);
      return undefined;
    }
    report(path, `must be one of ${values.join(', ')}`);
    return undefined;
  };
}

export const readBoolean: Reader<boolean> = (value, path, report) => {
  if (typeof value === 'boolean') return value;
  report(path, 'must be a boolean (true or false)');
  return undefined;
};

export function readInteger(min: number, max: number, message: string): Reader<number> {
  return (value, path, report) => {
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
    report(path, message);
    return undefined;
  };
}

export const readPositiveInteger = readInteger(1, Number.MAX_SAFE_INTEGER, 'must be a positive integer');

/** `positive` refuses zero: a timeout of 0 would fail every run. */
export function readDuration(options: { positive?: boolean } = {}): Reader<number> {
  return (value, path, report) => {
    if (typeof value !== 'string') {
      report(path, typeof value === 'number'
        ? `must be a duration string with a unit (${DURATION_HINT}); a bare number is ambiguous`
        : `must be a duration string (${DURATION_HINT})`);
      return undefined;
    }
    const ms = parseDurationMs(value);
    if (ms === null) {
      report(path, `invalid duration '${value}' (${DURATION_HINT})`);
      return undefined;
    }
    if (options.positive && ms === 0) {
      report(path, 'must be longer than 0');
      return undefined;
    }
    return ms;
  };
}

export const readMapping: Reader<Record<string, unknown>> = (value, path, report) => {
  if (isMapping(value)) return value;
  report(path, 'must be a mapping');
  return undefined;
};

/**
 * A mapping of strings. Numbers and booleans are accepted and turned into strings, because YAML
 * authors write `X-Retries: 3` or `DEBUG: true` and mean text.
 */
export function readStringMap(keyPattern?: { pattern: RegExp; description: string }): Reader<Record<string, string>> {
  return (value, path, report) => {
    if (!isMapping(value)) {
      report(path, 'must be a mapping of strings');
      return undefined;
    }
    const out: Record<string, string> = {};
    let ok = true;
    for (const [key, item] of Object.entries(value)) {
      if (keyPattern && !keyPattern.pattern.test(key)) {
        report([...path, key], `'${key}' is not valid: ${keyPattern.description}`);
        ok = false;
      }
      if (typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean') {
        setEntry(out, key, String(item));
      } else {
        report([...path, key], 'must be a string');
        ok = false;
      }
    }
    return ok ? out : undefined;
  };
}

/** Any JSON value; its shape was already checked when the YAML was loaded. */
export const readAny: Reader<unknown> = (value) => value;

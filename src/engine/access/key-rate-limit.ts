import { parseDurationMs } from '../dsl/duration';
import { ValidationError } from '../errors';

/** A managed key's own request budget: at most `requests` per fixed window of `windowSeconds`. */
export interface KeyRateLimit {
  requests: number;
  windowSeconds: number;
}

export const MAX_RATE_LIMIT_REQUESTS = 1_000_000;
export const MAX_RATE_LIMIT_WINDOW_SECONDS = 86_400;

const SHAPE_HINT = `an object {requests, window}, e.g. {"requests": 100, "window": "1m"}: requests an integer from 1 to ${MAX_RATE_LIMIT_REQUESTS}, window a duration of whole seconds from 1s to 24h ('30s', '1m', '1h', 'PT15M')`;

/**
 * Validates the API/CLI form `{requests, window}` (window as a duration string) into the stored
 * form. `null` clears the limit; `undefined` means "not given".
 */
export function parseKeyRateLimit(value: unknown, field = 'rateLimit'): KeyRateLimit | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw new ValidationError([{ field, message: `must be ${SHAPE_HINT}, or null for no limit` }]);
  const { requests, window, ...rest } = value as Record<string, unknown>;
  const problems: { field: string; message: string }[] = [];
  const unknown = Object.keys(rest);
  if (unknown.length) problems.push({ field, message: `unknown propert${unknown.length === 1 ? 'y' : 'ies'} ${unknown.join(', ')}; expected ${SHAPE_HINT}` });
  if (typeof requests !== 'number' || !Number.isInteger(requests) || requests < 1 || requests > MAX_RATE_LIMIT_REQUESTS) {
    problems.push({ field: `${field}.requests`, message: `must be an integer from 1 to ${MAX_RATE_LIMIT_REQUESTS}` });
  }
  const ms = typeof window === 'string' ? parseDurationMs(window) : null;
  if (ms === null || ms % 1000 !== 0 || ms < 1000 || ms > MAX_RATE_LIMIT_WINDOW_SECONDS * 1000) {
    problems.push({ field: `${field}.window`, message: "must be a duration of whole seconds from 1s to 24h, e.g. '30s', '1m', '1h' or 'PT15M'" });
  }
  if (problems.length) throw new ValidationError(problems);
  return { requests: requests as number, windowSeconds: ms! / 1000 };
}

/** The window in the shortest exact unit: 60 → '1m', 90 → '90s', 7200 → '2h'. */
export function formatRateLimitWindow(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** The API/CLI form of a stored limit. */
export function presentKeyRateLimit(limit: KeyRateLimit | null): { requests: number; window: string } | null {
  return limit === null ? null : { requests: limit.requests, window: formatRateLimitWindow(limit.windowSeconds) };
}

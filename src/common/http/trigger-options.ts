import { parseDurationMs } from '../../engine/dsl';
import { IDEMPOTENCY_KEY_PATTERN } from '../../engine/tools/types';
import { ApiError } from '../errors/api-error';


/** Parses a `wait` duration ('30s', '500ms'); null when absent. `field` names it in the 400. */
export function parseWaitMs(wait: string | undefined, maxMs: number, field = 'wait'): number | null {
  if (wait === undefined) return null;
  const ms = parseDurationMs(wait);
  if (ms === null || ms > maxMs) {
    const max = `${maxMs / 1000}s`;
    throw new ApiError('VALIDATION_ERROR', `${field} must be a duration of at most ${max} (e.g. '30s', '500ms')`, [{ field, message: `must be a duration <= ${max}` }]);
  }
  return ms;
}

export function assertIdempotencyKey(key: string | undefined): void {
  if (key !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw new ApiError('VALIDATION_ERROR', 'Idempotency-Key must be 1-255 visible ASCII characters', [{ field: 'Idempotency-Key', message: 'invalid' }]);
  }
}

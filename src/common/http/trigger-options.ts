import { applyDecorators, createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { ValidateBy } from 'class-validator';
import { parseDurationMs } from '../../engine/dsl';
import { IDEMPOTENCY_KEY_PATTERN } from '../../engine/tools/types';
import { ApiError } from '../errors/api-error';
import { Parsed, type SentenceContext } from './validation';

/**
 * A `wait` duration ('30s', '500ms', 'PT30S') of at most `maxMs`: validated as the text sent, and
 * handed to the controller in milliseconds. Put it above the property's type and length rules
 * (the rule below a property's others runs first), so those keep their own messages.
 */
export function WaitDuration(maxMs: number): PropertyDecorator {
  const max = `${maxMs / 1000}s`;
  const context: SentenceContext = { detail: `must be a duration <= ${max}` };
  return applyDecorators(
    ValidateBy(
      {
        name: 'isWaitDuration',
        validator: {
          validate: (value: unknown) => {
            const ms = typeof value === 'string' ? parseDurationMs(value) : null;
            return ms !== null && ms <= maxMs;
          },
        },
      },
      { message: ({ property }) => `${property} must be a duration of at most ${max} (e.g. '30s', '500ms')`, context },
    ),
    Parsed((value: string) => parseDurationMs(value)),
  );
}

/**
 * The optional `Idempotency-Key` header of the routes that start executions, checked: 1-255
 * visible ASCII characters or 400 VALIDATION_ERROR. (Documented by `ApiIdempotencyKeyHeader`.)
 */
export const IdempotencyKey = createParamDecorator((_data: unknown, ctx: ExecutionContext): string | undefined => {
  const key = ctx.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>().headers['idempotency-key'];
  if (key !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw new ApiError('VALIDATION_ERROR', 'Idempotency-Key must be 1-255 visible ASCII characters', [{ field: 'Idempotency-Key', message: 'invalid' }]);
  }
  return key;
});

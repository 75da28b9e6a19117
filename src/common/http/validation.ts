import { ValidationPipe, type ArgumentMetadata, type Type as ClassType, type ValidationError } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, Max, Min, ValidateBy, type ValidationOptions } from 'class-validator';
import { parseZonedDateTime } from '../../engine/dsl/datetime';
import { ApiError } from '../errors/api-error';

/**
 * Integers in a query string are decimal digits only (`limit=50`): `0x10`, `1e3`, ` 5`, `+5` and
 * `5.0` are refused with 400 rather than reinterpreted (Number() would read the first three as
 * 16, 1000 and 5). Anything else becomes NaN, which the @IsInt rule then rejects with its message.
 */
const DECIMAL_DIGITS = /^[0-9]{1,15}$/;

export function DecimalInteger(): PropertyDecorator {
  return Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? (DECIMAL_DIGITS.test(value) ? Number(value) : Number.NaN) : value));
}

/** An ISO-8601 date-time with a zone (Z or an offset); see engine/dsl/datetime.ts for why. */
export function IsZonedDateTime(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy({ name: 'isZonedDateTime', validator: { validate: (value: unknown) => typeof value === 'string' && parseZonedDateTime(value) !== null } }, options);
}

function flatten(errors: ValidationError[], prefix = ''): { field: string; message: string }[] {
  const out: { field: string; message: string }[] = [];
  for (const error of errors) {
    const field = prefix ? `${prefix}.${error.property}` : error.property;
    for (const message of Object.values(error.constraints ?? {})) {
      out.push({
        field,
        message: message.includes('should not exist') ? 'unknown field; remove it' : message.replace(new RegExp(`^${error.property}\\s+`), ''),
      });
    }
    if (error.children?.length) out.push(...flatten(error.children, field));
  }
  return out;
}

/** Keys class-transformer skips silently (so `whitelist` never sees them): refused up front. */
const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype'];

/**
 * The global pipe. class-transformer drops `__proto__`, `constructor` and `prototype` while it
 * builds the DTO, so `forbidNonWhitelisted` cannot report them and `?__proto__=1` would be
 * accepted as if absent: they are refused here like any other unknown field.
 */
class StrictValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if ((metadata.type === 'query' || metadata.type === 'body') && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const bad = PROTOTYPE_KEYS.filter((key) => Object.hasOwn(value, key));
      if (bad.length > 0) {
        const details = bad.map((field) => ({ field, message: 'unknown field; remove it' }));
        throw new ApiError('VALIDATION_ERROR', details.map((d) => `${d.field}: ${d.message}`).join('; '), details);
      }
    }
    return super.transform(value, metadata);
  }
}

/** Strict: unknown fields are an error (a typo must not be silently ignored). */
export function createValidationPipe(): ValidationPipe {
  return new StrictValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    stopAtFirstError: true,
    transformOptions: { enableImplicitConversion: false },
    exceptionFactory: (errors) => {
      const details = flatten(errors);
      return new ApiError('VALIDATION_ERROR', details.map((d) => `${d.field}: ${d.message}`).join('; ') || 'invalid request', details);
    },
  });
}

const LIMIT_MESSAGE = 'limit must be an integer between 1 and 500, in decimal digits';
const OFFSET_MESSAGE = 'offset must be an integer between 0 and 1000000000, in decimal digits';

/** `?limit&offset` with DESIGN §3 bounds; modules extend it with their filters. */
export class PageQueryDto {
  @ApiProperty({ required: false, type: 'integer', default: 50, minimum: 1, maximum: 500, description: 'decimal digits' })
  @IsOptional()
  @DecimalInteger()
  @IsInt({ message: LIMIT_MESSAGE })
  @Min(1, { message: LIMIT_MESSAGE })
  @Max(500, { message: LIMIT_MESSAGE })
  limit?: number;

  @ApiProperty({ required: false, type: 'integer', default: 0, minimum: 0, maximum: 1_000_000_000, description: 'decimal digits' })
  @IsOptional()
  @DecimalInteger()
  @IsInt({ message: OFFSET_MESSAGE })
  @Min(0, { message: OFFSET_MESSAGE })
  @Max(1_000_000_000, { message: OFFSET_MESSAGE })
  offset?: number;
}

export interface PageDto<T> {
  items: T[];
  limit: number;
  offset: number;
  hasMore: boolean;
}

/** The `{items, limit, offset, hasMore}` response class of a list route, named for OpenAPI. */
export function PageOf<T>(item: ClassType<T>, name: string): ClassType<PageDto<T>> {
  class Page implements PageDto<T> {
    @ApiProperty({ type: [item] }) items: T[];
    @ApiProperty({ type: 'integer', minimum: 1 }) limit: number;
    @ApiProperty({ type: 'integer', minimum: 0 }) offset: number;
    @ApiProperty({ description: 'true when another page follows (there is no total count)' }) hasMore: boolean;
  }
  Object.defineProperty(Page, 'name', { value: name });
  return Page;
}

export function toIso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

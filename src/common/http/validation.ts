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

/**
 * The `context` of a rule whose message is a sentence of its own: the error's message is that
 * sentence as written, and its `details` entry says `detail` (e.g. the wait and labels rules).
 * Other rules read `field: message` in the error's message, the message without the leading
 * field name in `details`.
 */
export interface SentenceContext {
  detail: string;
}

interface FieldProblem {
  field: string;
  message: string;
  sentence?: string;
}

/** The epoch ms of a date-time IsZonedDateTime accepted, read by the same rule (Date.parse would misread some valid forms). */
export function zonedDateTimeMs(value: string): number {
  return parseZonedDateTime(value) ?? Number.NaN;
}

function flatten(errors: ValidationError[], prefix = ''): FieldProblem[] {
  const out: FieldProblem[] = [];
  for (const error of errors) {
    const field = prefix ? `${prefix}.${error.property}` : error.property;
    for (const [constraint, message] of Object.entries(error.constraints ?? {})) {
      const detail = (error.contexts?.[constraint] as Partial<SentenceContext> | undefined)?.detail;
      if (detail !== undefined) {
        out.push({ field, message: detail, sentence: message });
        continue;
      }
      out.push({
        field,
        message: message.includes('should not exist') ? 'unknown field; remove it' : message.replace(new RegExp(`^${error.property}\\s+`), ''),
      });
    }
    if (error.children?.length) out.push(...flatten(error.children, field));
  }
  return out;
}

const PARSED_PROPERTIES = 'autokestra:parsed-properties';

interface ParsedProperty {
  key: string | symbol;
  parse: (value: never) => unknown;
}

/**
 * The controller receives this property converted by `parse` (a duration in ms, a date-time in
 * epoch ms): the global pipe converts it once the whole DTO passed validation, so the rules and
 * their messages see the value as sent (a class-transformer @Transform runs before them, on
 * unchecked input). Absent and null values are left as they are. Top-level properties only.
 */
export function Parsed<T>(parse: (value: T) => unknown): PropertyDecorator {
  return (target, key) => {
    const inherited = (Reflect.getMetadata(PARSED_PROPERTIES, target.constructor) as ParsedProperty[] | undefined) ?? [];
    Reflect.defineMetadata(PARSED_PROPERTIES, [...inherited, { key, parse }], target.constructor);
  };
}

function applyParsed(dto: object): void {
  const parsed = Reflect.getMetadata(PARSED_PROPERTIES, dto.constructor) as ParsedProperty[] | undefined;
  const record = dto as Record<string | symbol, unknown>;
  for (const { key, parse } of parsed ?? []) {
    if (record[key] !== undefined && record[key] !== null) record[key] = parse(record[key] as never);
  }
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
    const result: unknown = await super.transform(value, metadata);
    if (result !== null && typeof result === 'object' && metadata.metatype && result instanceof metadata.metatype) applyParsed(result);
    return result;
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
      const problems = flatten(errors);
      const message = problems.map((p) => p.sentence ?? `${p.field}: ${p.message}`).join('; ');
      return new ApiError('VALIDATION_ERROR', message || 'invalid request', problems.map(({ field, message }) => ({ field, message })));
    },
  });
}

const LIMIT_MESSAGE = 'limit must be an integer between 1 and 500, in decimal digits';
const OFFSET_MESSAGE = 'offset must be an integer between 0 and 1000000000, in decimal digits';

/** `?limit&offset` with DESIGN §3 bounds and their defaults (50, 0); modules extend it with their filters. */
export class PageQueryDto {
  @ApiProperty({ required: false, type: 'integer', default: 50, minimum: 1, maximum: 500, description: 'decimal digits' })
  @IsOptional()
  @DecimalInteger()
  @IsInt({ message: LIMIT_MESSAGE })
  @Min(1, { message: LIMIT_MESSAGE })
  @Max(500, { message: LIMIT_MESSAGE })
  limit: number = 50;

  @ApiProperty({ required: false, type: 'integer', default: 0, minimum: 0, maximum: 1_000_000_000, description: 'decimal digits' })
  @IsOptional()
  @DecimalInteger()
  @IsInt({ message: OFFSET_MESSAGE })
  @Min(0, { message: OFFSET_MESSAGE })
  @Max(1_000_000_000, { message: OFFSET_MESSAGE })
  offset: number = 0;
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

/** The answer of a list route: the engine's page, its items mapped, with the limit and offset asked for. */
export function pageOf<T, U>(query: { limit: number; offset: number }, page: { items: T[]; hasMore: boolean }, map: (item: T) => U): PageDto<U> {
  return { items: page.items.map((item) => map(item)), limit: query.limit, offset: query.offset, hasMore: page.hasMore };
}

export function toIso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

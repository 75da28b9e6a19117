import { ValidationPipe, type Type as ClassType, type ValidationError } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { ApiError } from '../errors/api-error';

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

/** Strict: unknown fields are an error (a typo must not be silently ignored). */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
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

/** `?limit&offset` with DESIGN §3 bounds; modules extend it with their filters. */
export class PageQueryDto {
  @ApiProperty({ required: false, default: 50, minimum: 1, maximum: 500 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'limit must be an integer between 1 and 500' })
  @Min(1, { message: 'limit must be an integer between 1 and 500' })
  @Max(500, { message: 'limit must be an integer between 1 and 500' })
  limit?: number;

  @ApiProperty({ required: false, default: 0, minimum: 0 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'offset must be a non-negative integer' })
  @Min(0, { message: 'offset must be a non-negative integer' })
  @Max(1_000_000_000, { message: 'offset must be at most 1000000000' })
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
    @ApiProperty() limit: number;
    @ApiProperty() offset: number;
    @ApiProperty({ description: 'true when another page follows (there is no total count)' }) hasMore: boolean;
  }
  Object.defineProperty(Page, 'name', { value: name });
  return Page;
}

export function toIso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

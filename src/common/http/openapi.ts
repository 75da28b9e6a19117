import { applyDecorators, type Type } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { ERROR_STATUS, ErrorResponseDto } from '../errors/api-error';

const CODES_BY_STATUS = new Map<number, string[]>();
for (const [code, status] of Object.entries(ERROR_STATUS)) {
  CODES_BY_STATUS.set(status, [...(CODES_BY_STATUS.get(status) ?? []), code]);
}

/**
 * Documents the error responses of a route, all in the one error shape. A route that
 * authenticates (401) can also answer 429: failed-auth limiting and per-key request limits.
 */
export const ApiErrors = (...statuses: number[]) =>
  applyDecorators(
    ...[...statuses, ...(statuses.includes(401) && !statuses.includes(429) ? [429] : []), 500].map((status) =>
      ApiResponse({ status, type: ErrorResponseDto, description: `error; code one of ${(CODES_BY_STATUS.get(status) ?? []).join(', ')}` }),
    ),
  );

export const ApiOk = (type: Type<unknown>, status = 200, description = 'success') => ApiResponse({ status, type, description });

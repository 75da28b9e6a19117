import { applyDecorators, type Type } from '@nestjs/common';
import { ApiHeader, ApiParam, ApiResponse } from '@nestjs/swagger';
import { WORKFLOW_ID_PATTERN } from '../../engine/dsl/types';
import { IDEMPOTENCY_KEY_PATTERN } from '../../engine/tools/types';
import { ERROR_STATUS, type ErrorCode } from '../errors/api-error';

/**
 * The error codes a status answers with when a route names only the status. A route that can
 * send a narrower or wider set names the codes instead (`@ApiErrors('INVALID_WORKFLOW', 404)`).
 */
const DEFAULT_CODES: Record<number, ErrorCode[]> = {
  400: ['VALIDATION_ERROR'],
  409: ['CONFLICT'],
};

export function codesOfStatus(status: number): ErrorCode[] {
  return (Object.keys(ERROR_STATUS) as ErrorCode[]).filter((code) => ERROR_STATUS[code] === status);
}

/** `NOT_FOUND` → `NotFoundError`, `VALIDATION_ERROR` → `ValidationError`: the component of one code's error body. */
export function errorSchemaName(code: ErrorCode): string {
  const pascal = code
    .toLowerCase()
    .split('_')
    .map((word) => (word === 'api' ? 'Api' : word.charAt(0).toUpperCase() + word.slice(1)))
    .join('');
  return pascal.endsWith('Error') ? pascal : `${pascal}Error`;
}

/** `{error: <one of the codes' bodies>}`: what a route answers with for one status. */
export function errorResponseSchema(codes: ErrorCode[]): Record<string, unknown> {
  const refs = codes.map((code) => ({ $ref: `#/components/schemas/${errorSchemaName(code)}` }));
  return {
    type: 'object',
    required: ['error'],
    additionalProperties: false,
    properties: { error: refs.length === 1 ? refs[0] : { oneOf: refs } },
  };
}

/**
 * Documents the error responses of a route, all in the one error shape, with the exact codes
 * each status may carry. Entries are statuses (their default codes) or codes. A route that
 * authenticates (401) can also answer 429 (failed-auth limiting, per-key request limits);
 * every route can answer 500.
 */
export const ApiErrors = (...entries: (number | ErrorCode)[]) => {
  const byStatus = new Map<number, Set<ErrorCode>>();
  const add = (status: number, codes: ErrorCode[]) => {
    const set = byStatus.get(status) ?? new Set<ErrorCode>();
    for (const code of codes) set.add(code);
    byStatus.set(status, set);
  };
  for (const entry of entries) {
    if (typeof entry === 'number') add(entry, DEFAULT_CODES[entry] ?? codesOfStatus(entry));
    else add(ERROR_STATUS[entry], [entry]);
  }
  if (byStatus.has(401) && !byStatus.has(429)) add(429, ['RATE_LIMITED']);
  add(500, ['INTERNAL_ERROR']);
  return applyDecorators(
    ...[...byStatus.entries()].map(([status, codes]) =>
      ApiResponse({ status, description: `error: ${[...codes].join(', ')}`, schema: errorResponseSchema([...codes]) }),
    ),
  );
};

export const ApiOk = (type: Type<unknown>, status = 200, description = 'success') => ApiResponse({ status, type, description });

/** The `{id}` of a workflow route: the server answers 400 VALIDATION_ERROR for anything else. */
export const ApiWorkflowIdParam = () =>
  ApiParam({ name: 'id', description: 'the workflow id', schema: { type: 'string', pattern: WORKFLOW_ID_PATTERN.source } });

/** The optional `Idempotency-Key` header of the routes that start executions. */
export const ApiIdempotencyKeyHeader = (description: string) =>
  ApiHeader({ name: 'Idempotency-Key', required: false, description, schema: { type: 'string', pattern: IDEMPOTENCY_KEY_PATTERN.source } });

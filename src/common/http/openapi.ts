import { type Type } from '@nestjs/common';
import { METHOD_METADATA } from '@nestjs/common/constants';
import { ApiHeader, ApiParam, ApiResponse, DECORATORS } from '@nestjs/swagger';
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
 * The security schemes the document defines (openapi-document.ts): an API key as a Bearer token
 * or in the X-API-Key header. An authenticated operation accepts either (two requirements, OR).
 */
export const SECURITY_SCHEMES = ['bearer', 'apiKey'] as const;

/** The codes each error status of one handler documents, as ApiErrors has collected them. */
const ERROR_CODES = 'autokestra:error-codes';

type Handler = (...args: never[]) => unknown;

/** The route handlers a class decorator documents: the class's own methods that Nest routes. */
function routeHandlers(controller: object): Handler[] {
  const prototype = (controller as { prototype?: object }).prototype;
  if (!prototype) return [];
  return Object.getOwnPropertyNames(prototype)
    .filter((name) => name !== 'constructor')
    .map((name) => Object.getOwnPropertyDescriptor(prototype, name)?.value as unknown)
    .filter((value): value is Handler => typeof value === 'function' && Reflect.hasMetadata(METHOD_METADATA, value));
}

/**
 * A decorator for a route or a controller whose OpenAPI part is written per handler: on a
 * controller, `document` runs for each of its routes that `applies` to (so class and method
 * metadata merge the way the guard reads them, handler first); `metadata` goes where the
 * decorator stands (the guard reads handler and class).
 */
export function routeDecorator(
  metadata: (ClassDecorator & MethodDecorator)[],
  document: (handler: Handler) => void,
  applies: (handler: Handler) => boolean = () => true,
): ClassDecorator & MethodDecorator {
  return ((target: object, key?: string | symbol, descriptor?: PropertyDescriptor) => {
    if (descriptor) {
      for (const decorator of metadata) (decorator as MethodDecorator)(target, key!, descriptor);
      document(descriptor.value as Handler);
      return descriptor;
    }
    for (const decorator of metadata) (decorator as ClassDecorator)(target as never);
    for (const handler of routeHandlers(target)) if (applies(handler)) document(handler);
    return target;
  }) as ClassDecorator & MethodDecorator;
}

function documentErrors(handler: Handler, entries: readonly (number | ErrorCode)[]): void {
  const owned = Reflect.getOwnMetadata(ERROR_CODES, handler) as Map<number, ErrorCode[]> | undefined;
  const byStatus = new Map<number, ErrorCode[]>([...(owned ?? [])].map(([status, codes]) => [status, [...codes]]));
  const add = (status: number, codes: ErrorCode[]) => {
    const list = byStatus.get(status) ?? [];
    for (const code of codes) if (!list.includes(code)) list.push(code);
    byStatus.set(status, list);
  };
  for (const entry of entries) {
    if (typeof entry === 'number') add(entry, DEFAULT_CODES[entry] ?? codesOfStatus(entry));
    else add(ERROR_STATUS[entry], [entry]);
  }
  if (byStatus.has(401) && !byStatus.has(429)) add(429, ['RATE_LIMITED']);
  add(500, ['INTERNAL_ERROR']);
  Reflect.defineMetadata(ERROR_CODES, byStatus, handler);
  // Swagger merges two responses of one status by letting the later schema win: the statuses
  // documented before are dropped and written again from the union of their codes.
  const responses = Reflect.getOwnMetadata(DECORATORS.API_RESPONSE, handler) as Record<string, unknown> | undefined;
  if (owned && responses) {
    const rest = { ...responses };
    for (const status of owned.keys()) delete rest[status];
    Reflect.defineMetadata(DECORATORS.API_RESPONSE, rest, handler);
  }
  for (const [status, codes] of byStatus) {
    ApiResponse({ status, description: `error: ${codes.join(', ')}`, schema: errorResponseSchema(codes) })(handler, handler.name, { value: handler });
  }
}

/**
 * Documents the error responses of a route (or of every route of a controller), all in the
 * one error shape, with the exact codes each status may carry. Entries are statuses (their
 * default codes) or codes. Several ApiErrors on one route add up: a status named twice carries
 * the codes of both (so `@Authenticated`'s 401/403 and a route's own 403 codes merge). A route
 * that authenticates (401) can also answer 429 (failed-auth limiting, per-key request limits);
 * every route can answer 500.
 */
export const ApiErrors = (...entries: (number | ErrorCode)[]): ClassDecorator & MethodDecorator =>
  routeDecorator([], (handler) => documentErrors(handler, entries));

export const ApiOk = (type: Type<unknown>, status = 200, description = 'success') => ApiResponse({ status, type, description });

/** The `{id}` of a workflow route: the server answers 400 VALIDATION_ERROR for anything else. */
export const ApiWorkflowIdParam = () =>
  ApiParam({ name: 'id', description: 'the workflow id', schema: { type: 'string', pattern: WORKFLOW_ID_PATTERN.source } });

/** The optional `Idempotency-Key` header of the routes that start executions. */
export const ApiIdempotencyKeyHeader = (description: string) =>
  ApiHeader({ name: 'Idempotency-Key', required: false, description, schema: { type: 'string', pattern: IDEMPOTENCY_KEY_PATTERN.source } });

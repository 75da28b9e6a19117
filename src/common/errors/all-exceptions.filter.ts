import { ArgumentsHost, Catch, HttpException, Logger, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { EngineError } from '../../engine/errors';
import { isClientAbort } from '../http/protocol';
import { ApiError, ERROR_STATUS, type ErrorCode } from './api-error';

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export interface MappedError {
  status: number;
  body: ErrorBody;
  headers?: Record<string, string>;
}

const HTTP_STATUS_CODES: Record<number, ErrorCode> = {
  400: 'VALIDATION_ERROR',
  401: 'MISSING_API_KEY',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  503: 'NOT_READY',
};

/** Errors raised by Fastify before a route handler runs (body parsing, limits). */
function mapFastifyError(error: { code?: string; statusCode?: number; message?: string }): MappedError | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return shaped(413, 'PAYLOAD_TOO_LARGE', 'the request body is larger than the configured limit (server.bodyLimitBytes)');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return shaped(415, 'UNSUPPORTED_MEDIA_TYPE', 'unsupported Content-Type: send application/json (or application/yaml for workflow apply)');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return shaped(400, 'VALIDATION_ERROR', 'the body is empty but Content-Type is application/json: send a JSON document or no Content-Type');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return shaped(400, 'VALIDATION_ERROR', `the body is not valid JSON: ${error.message ?? ''}`.trim());
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return shaped(400, 'VALIDATION_ERROR', 'Content-Length does not match the body');
    case 'FST_ERR_CTP_INVALID_TYPE':
      return shaped(415, 'UNSUPPORTED_MEDIA_TYPE', 'the Content-Type header is malformed');
  }
  if (error instanceof SyntaxError && (error as { statusCode?: number }).statusCode === 400) {
    return shaped(400, 'VALIDATION_ERROR', `the body is not valid JSON: ${error.message}`);
  }
  if (error.code?.startsWith('FST_') && error.statusCode && error.statusCode < 500) {
    return shaped(error.statusCode, HTTP_STATUS_CODES[error.statusCode] ?? 'VALIDATION_ERROR', error.message ?? 'bad request');
  }
  return undefined;
}

function shaped(status: number, code: string, message: string, details?: unknown, headers?: Record<string, string>): MappedError {
  return { status, body: { error: details === undefined ? { code, message } : { code, message, details } }, headers };
}

/** Turns anything thrown into the one error shape; undefined status means "a bug" (500). */
export function mapError(exception: unknown): MappedError | undefined {
  if (exception instanceof ApiError) {
    return shaped(exception.status, exception.code, exception.message, exception.details, exception.headers);
  }
  if (exception instanceof EngineError) {
    const status = ERROR_STATUS[exception.code as ErrorCode] ?? 500;
    return shaped(status, exception.code, exception.message, exception.details);
  }
  if (exception instanceof HttpException) {
    // Nest wraps Fastify's own errors (body parsing, limits) with the original as `cause`.
    if (exception.cause && typeof exception.cause === 'object') {
      const fastifyMapped = mapFastifyError(exception.cause as { code?: string; statusCode?: number; message?: string });
      if (fastifyMapped) return fastifyMapped;
    }
    const status = exception.getStatus();
    const response = exception.getResponse() as { code?: string; message?: string | string[]; details?: unknown } | string;
    if (typeof response === 'object' && response.code) {
      return shaped(status, response.code, String(response.message), response.details);
    }
    if (status === 404) {
      return shaped(404, 'NOT_FOUND', 'no such route: check the method and path (see /api/v1/openapi.json)');
    }
    const message = typeof response === 'string' ? response : Array.isArray(response.message) ? response.message.join('; ') : (response.message ?? exception.message);
    if (status >= 500 && status !== 503) return undefined;
    return shaped(status, HTTP_STATUS_CODES[status] ?? (status < 500 ? 'VALIDATION_ERROR' : 'NOT_READY'), message);
  }
  if (typeof exception === 'object' && exception !== null) {
    return mapFastifyError(exception as { code?: string; statusCode?: number; message?: string });
  }
  return undefined;
}

export function internalError(requestId: unknown): MappedError {
  return shaped(500, 'INTERNAL_ERROR', `an unexpected error occurred; quote request id ${String(requestId)} when reporting it`);
}

/** The single exit for every error (docs/api.md, Errors): status + stable code, never a stack or secret. */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const request = ctx.getRequest<FastifyRequest>();
    const reply = ctx.getResponse<FastifyReply>();
    sendError(reply, request, exception, this.logger);
  }
}

export function sendError(
  reply: FastifyReply,
  request: FastifyRequest,
  exception: unknown,
  logger: { error(obj: unknown, msg?: string): void },
): void {
  // The client went away (socket closed mid-body or before the answer): nobody to answer, and
  // not a server error. The onRequestAbort hook notes it at info.
  if (isClientAbort(exception, request.raw)) return;
  let mapped = mapError(exception);
  if (!mapped) {
    mapped = internalError(request.id);
    logger.error({ err: exception, reqId: request.id, method: request.method, url: request.routeOptions?.url }, 'unhandled error');
  }
  if (reply.sent) return;
  if (mapped.headers) reply.headers(mapped.headers);
  reply.status(mapped.status).header('content-type', 'application/json; charset=utf-8').send(mapped.body);
}

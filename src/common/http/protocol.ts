import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Headers a request may carry at most once. Node keeps the first of two Host, Authorization or
 * Content-Type headers and joins two X-API-Key or Idempotency-Key headers with ", ": either way
 * the server would act on something other than what an intermediary may have checked. A request
 * that repeats one of them is refused (400) instead.
 */
const SINGLETON_HEADERS = new Set(['host', 'authorization', 'x-api-key', 'content-type', 'idempotency-key']);

/**
 * What is wrong with a request at the protocol level, or null. RFC 9112 §3.2: an HTTP/1.1
 * request without a Host header, or with more than one, must be answered with 400. (HTTP/1.0
 * predates Host and may omit it.)
 */
export function protocolProblem(request: IncomingMessage): string | null {
  const raw = request.rawHeaders;
  let seen: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (!SINGLETON_HEADERS.has(name)) continue;
    seen ??= new Set();
    if (seen.has(name)) return `the request has more than one ${headerName(name)} header; send exactly one`;
    seen.add(name);
  }
  if (!seen?.has('host') && request.httpVersionMajor === 1 && request.httpVersionMinor >= 1) {
    return 'the request has no Host header (required in HTTP/1.1)';
  }
  return null;
}

function headerName(lower: string): string {
  return lower === 'x-api-key' ? 'X-API-Key' : lower.replace(/(^|-)([a-z])/g, (_m, dash: string, ch: string) => dash + ch.toUpperCase());
}

/**
 * A complete response written straight to a socket, for requests that never reach the router
 * (malformed HTTP, CONNECT), in the same error shape, with the same security headers and a
 * request id like every other answer.
 */
export function rawErrorResponse(status: number, reason: string, code: string, message: string, headers: Record<string, string>): string {
  const body = JSON.stringify({ error: { code, message } });
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return `HTTP/1.1 ${status} ${reason}\r\n${lines}x-request-id: ${randomUUID()}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

/** A client that went away mid-request (closed the socket mid-body or before the response). */
export function isClientAbort(error: unknown, request: IncomingMessage): boolean {
  const candidates = [error, (error as { cause?: unknown } | null)?.cause];
  const aborted = candidates.some((e) => {
    const { code, message } = (e ?? {}) as { code?: string; message?: string };
    return code === 'ECONNRESET' || code === 'ECONNABORTED' || code === 'ERR_STREAM_PREMATURE_CLOSE' || message === 'aborted';
  });
  return aborted && (request.destroyed || request.socket?.destroyed === true);
}

/**
 * The `http` task: one HTTP(S) call with SSRF protection, manual redirects and a response cap.
 *
 * Status policy: a final status >= 400 FAILS the task (kind HTTP_ERROR, "HTTP 404 from GET
 * https://host/path") — a CI user expects a failing call to fail the workflow. 1xx–3xx (after
 * redirects have been followed) and 2xx succeed with outputs `{status, headers, body}`.
 *
 * Messages and log lines name the request as `METHOD scheme://host[:port]/path`: never the query
 * string (it may carry tokens), user info or headers.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { HttpTask } from '../dsl/types';
import { AddressPolicy, checkLiteralHost, createGuardedLookup } from './ssrf';
import { TaskFailure, type PropertySchema, type TaskContext, type TaskRuntimeConfig, type TaskType } from './task-type';

export const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const METHOD_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** request headers that must not follow a redirect to another origin */
const CROSS_ORIGIN_DROPPED = ['authorization', 'proxy-authorization', 'cookie', 'host'];
const BODY_HEADERS = ['content-type', 'content-length', 'content-encoding', 'content-language', 'transfer-encoding'];

export interface HttpTaskOutputs {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

interface Outgoing {
  url: URL;
  method: string;
  /** header name as given → value; look-ups are case-insensitive */
  headers: Record<string, string>;
  body: Buffer | null;
  /** the URL was rendered from a template that read a secret: errors do not show it */
  urlReadsSecret: boolean;
}

interface Exchange {
  status: number;
  headers: Record<string, string>;
  /** null when the response was a redirect and its body was not read */
  body: Buffer | null;
}

interface Guard {
  policy: AddressPolicy;
  lookup: LookupFunction;
}

/** `scheme://host[:port]/path` — no user info, query string or fragment. */
/**
 * How an error names a URL: origin and path, never the query. A URL built from a secret is not
 * shown at all: the URL parser cuts and re-encodes it (a secret holding `?` leaves only its
 * first part in the path), and a fragment of a secret is no longer the value masking looks for.
 */
export function describeUrl(url: URL, readsSecret = false): string {
  if (readsSecret) return `${url.protocol}//*** (a URL built from a secret)`;
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function headerKey(headers: Record<string, string>, name: string): string | undefined {
  const lower = name.toLowerCase();
  return Object.keys(headers).find((k) => k.toLowerCase() === lower);
}

function deleteHeaders(headers: Record<string, string>, names: readonly string[]): void {
  for (const name of names) {
    let key: string | undefined;
    while ((key = headerKey(headers, name)) !== undefined) delete headers[key];
  }
}

function parseHttpUrl(raw: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TaskFailure(`${what} is not a valid URL`, 'INVALID_REQUEST');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TaskFailure(
      `${what} must use http or https, not ${url.protocol.replace(/:$/, '')}`,
      'INVALID_REQUEST',
    );
  }
  return url;
}

function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function renderHeaders(rendered: unknown): Record<string, string> {
  const headers: Record<string, string> = {};
  if (rendered && typeof rendered === 'object' && !Array.isArray(rendered)) {
    for (const [name, value] of Object.entries(rendered as Record<string, unknown>)) {
      headers[name] = asText(value);
    }
  }
  return headers;
}

/** string → text/plain; any other JSON value → application/json; null/undefined → no body. */
function encodeBody(rendered: unknown, headers: Record<string, string>): Buffer | null {
  if (rendered === null || rendered === undefined) return null;
  let payload: string;
  let contentType: string;
  if (typeof rendered === 'string') {
    payload = rendered;
    contentType = 'text/plain; charset=utf-8';
  } else {
    try {
      payload = JSON.stringify(rendered);
    } catch (err) {
      throw new TaskFailure(`request body is not JSON-serializable: ${(err as Error).message}`, 'INVALID_REQUEST');
    }
    contentType = 'application/json';
  }
  if (headerKey(headers, 'content-type') === undefined) headers['Content-Type'] = contentType;
  return Buffer.from(payload, 'utf8');
}

function responseHeaders(res: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, values] of Object.entries(res.headersDistinct)) {
    if (values) out[name.toLowerCase()] = values.join(', ');
  }
  return out;
}

function decodeBody(body: Buffer, contentType: string | undefined): unknown {
  const [mimeRaw = '', ...params] = (contentType ?? '').split(';');
  const mime = mimeRaw.trim().toLowerCase();
  const charsetParam = params.map((p) => p.trim()).find((p) => p.toLowerCase().startsWith('charset='));
  const charset = charsetParam ? charsetParam.slice('charset='.length).replace(/^"|"$/g, '') : 'utf-8';
  let text: string;
  try {
    text = new TextDecoder(charset).decode(body);
  } catch {
    text = new TextDecoder('utf-8').decode(body);
  }
  if (mime === 'application/json' || mime.endsWith('+json')) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

export class HttpTaskType implements TaskType<HttpTask> {
  readonly name = 'http' as const;
  readonly properties: PropertySchema = {
    url: { type: 'url', required: true },
    method: { type: 'enum', values: HTTP_METHODS, ignoreCase: true, default: 'GET' },
    headers: { type: 'stringMap', default: {} },
    body: { type: 'any', default: null },
  };
  private readonly guards = new WeakMap<TaskRuntimeConfig['http'], Guard>();

  async run(task: HttpTask, ctx: TaskContext): Promise<HttpTaskOutputs> {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const guard = this.guardFor(ctx.config.http);

    let urlReadsSecret = false;
    let url = parseHttpUrl(asText(ctx.render(task.url, () => (urlReadsSecret = true))), 'url');
    const shown = (u: URL) => describeUrl(u, urlReadsSecret);
    let method = String(task.method || 'GET').toUpperCase();
    if (!METHOD_PATTERN.test(method)) {
      throw new TaskFailure(`invalid HTTP method ${JSON.stringify(task.method)}`, 'INVALID_REQUEST');
    }
    const headers = renderHeaders(ctx.render(task.headers ?? {}));
    deleteHeaders(headers, ['content-length']);
    let body = encodeBody(task.body === undefined || task.body === null ? null : ctx.render(task.body), headers);
    if (headerKey(headers, 'user-agent') === undefined) headers['User-Agent'] = 'autokestra';

    for (let redirects = 0; ; redirects++) {
      const res = await this.exchange({ url, method, headers, body, urlReadsSecret }, ctx, guard);
      const location = res.headers['location'];
      if (res.body === null && location !== undefined) {
        if (redirects >= MAX_REDIRECTS) {
          throw new TaskFailure(
            `too many redirects (more than ${MAX_REDIRECTS}) from ${method} ${shown(url)}`,
            'TOO_MANY_REDIRECTS',
          );
        }
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw new TaskFailure(`redirect from ${method} ${shown(url)} has an invalid Location`, 'INVALID_REQUEST');
        }
        next = parseHttpUrl(next.href, `redirect from ${method} ${shown(url)}`);
        if ((res.status === 303 && method !== 'HEAD') || ((res.status === 301 || res.status === 302) && method === 'POST')) {
          method = 'GET';
          body = null;
          deleteHeaders(headers, BODY_HEADERS);
        }
        if (next.origin !== url.origin) deleteHeaders(headers, CROSS_ORIGIN_DROPPED);
        url = next;
        continue;
      }
      if (res.status >= 400) {
        throw new TaskFailure(`HTTP ${res.status} from ${method} ${shown(url)}`, 'HTTP_ERROR');
      }
      return {
        status: res.status,
        headers: res.headers,
        body: decodeBody(res.body ?? Buffer.alloc(0), res.headers['content-type']),
      };
    }
  }

  private guardFor(config: TaskRuntimeConfig['http']): Guard {
    let guard = this.guards.get(config);
    if (!guard) {
      const policy = new AddressPolicy({ allowCidrs: config.allowCidrs, denyCidrs: config.denyCidrs });
      guard = { policy, lookup: createGuardedLookup(policy) };
      this.guards.set(config, guard);
    }
    return guard;
  }

  /**
   * One request/response. Redirect responses (with a Location) resolve with `body: null` without
   * reading the body; anything else reads the body up to the cap. The socket is never reused
   * (`agent: false`) and is destroyed on abort, on error and when the cap is exceeded.
   */
  private exchange(out: Outgoing, ctx: TaskContext, guard: Guard): Promise<Exchange> {
    const what = `${out.method} ${describeUrl(out.url, out.urlReadsSecret)}`;
    const maxBytes = ctx.config.http.maxResponseBytes;
    // Node connects to IP literals without calling `lookup`: check them here, before anything is sent
    const literal = checkLiteralHost(guard.policy, out.url.hostname);
    if (ctx.signal.aborted) return Promise.reject(ctx.signal.reason);

    return new Promise<Exchange>((resolve, reject) => {
      const started = performance.now();
      let settled = false;
      let req: http.ClientRequest | undefined;
      let res: http.IncomingMessage | undefined;

      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        ctx.signal.removeEventListener('abort', onAbort);
        fn();
      };
      const fail = (err: unknown) =>
        settle(() => {
          res?.destroy();
          req?.destroy();
          reject(err);
        });
      const onAbort = () => fail(ctx.signal.reason);
      const tooLarge = () =>
        fail(
          new TaskFailure(
            `response from ${what} exceeds the ${maxBytes}-byte limit (engine.tasks.http.maxResponseBytes)`,
            'RESPONSE_TOO_LARGE',
          ),
        );
      const logResponse = (status: number) =>
        ctx.log('info', `${what} → ${status} (${Math.round(performance.now() - started)} ms)`);

      const options: https.RequestOptions = {
        protocol: out.url.protocol,
        hostname: literal ?? out.url.hostname,
        port: out.url.port || undefined,
        path: `${out.url.pathname}${out.url.search}`,
        method: out.method,
        headers: { ...out.headers, 'Content-Length': String(out.body?.length ?? 0) },
        agent: false,
        lookup: guard.lookup,
        signal: ctx.signal,
      };
      if (out.body === null && (out.method === 'GET' || out.method === 'HEAD')) {
        delete (options.headers as Record<string, string>)['Content-Length'];
      }
      if (out.url.username || out.url.password) {
        options.auth = `${decodeURIComponent(out.url.username)}:${decodeURIComponent(out.url.password)}`;
      }

      try {
        req = (out.url.protocol === 'https:' ? https : http).request(options);
      } catch (err) {
        settled = true;
        reject(new TaskFailure(`invalid request ${what}: ${(err as Error).message}`, 'INVALID_REQUEST'));
        return;
      }
      ctx.signal.addEventListener('abort', onAbort, { once: true });

      req.on('error', (err) => {
        if (ctx.signal.aborted) return fail(ctx.signal.reason);
        if (err instanceof TaskFailure) return fail(err); // SSRF denial from the guarded lookup
        fail(new TaskFailure(`${what} failed: ${err.message}`, 'REQUEST_FAILED'));
      });

      req.on('response', (response) => {
        res = response;
        // errors after we settled (e.g. the socket torn down by destroy) are of no interest
        response.on('error', () => undefined);
        const status = response.statusCode ?? 0;
        const headers = responseHeaders(response);
        if (REDIRECT_STATUSES.has(status) && headers['location'] !== undefined) {
          logResponse(status);
          settle(() => {
            response.destroy();
            req?.destroy();
            resolve({ status, headers, body: null });
          });
          return;
        }
        const declared = Number(headers['content-length']);
        if (Number.isFinite(declared) && declared > maxBytes) return tooLarge();
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) return tooLarge();
          chunks.push(chunk);
        });
        response.on('end', () => {
          if (settled) return;
          logResponse(status);
          settle(() => {
            req?.destroy();
            resolve({ status, headers, body: Buffer.concat(chunks) });
          });
        });
        response.on('error', (err) => {
          if (ctx.signal.aborted) return fail(ctx.signal.reason);
          fail(new TaskFailure(`${what} failed while reading the response: ${err.message}`, 'REQUEST_FAILED'));
        });
        response.on('close', () => {
          if (!settled) fail(new TaskFailure(`${what} failed: connection closed before the response was complete`, 'REQUEST_FAILED'));
        });
      });

      req.end(out.body ?? undefined);
    });
  }
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Metrics } from './metrics';

export interface MetricsListener {
  /** e.g. http://127.0.0.1:9464 (the bound port, when 0 was asked for) */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** A startup failure of the metrics listener, phrased in terms of the settings that fix it. */
export class MetricsListenError extends Error {}

function listenProblem(error: NodeJS.ErrnoException, host: string, port: number): MetricsListenError {
  const fix = 'set metrics.port / AUTOKESTRA_METRICS_PORT or disable metrics.enabled';
  if (error.code === 'EADDRINUSE') return new MetricsListenError(`metrics.port ${port} is already in use (EADDRINUSE); ${fix}`);
  if (error.code === 'EACCES') return new MetricsListenError(`metrics.port ${port} may not be opened by this user (EACCES); ${fix}`);
  if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') {
    return new MetricsListenError(`metrics.host ${host} is not an address of this machine (${error.code}); set metrics.host / AUTOKESTRA_METRICS_HOST`);
  }
  return new MetricsListenError(`the metrics listener could not open ${host}:${port} (${error.code ?? error.message}); ${fix}`);
}

function answer(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(text);
}

/**
 * The metrics listener: a bare node:http server, apart from the API (no Nest, no Fastify, no
 * auth, no API routes). GET (or HEAD) /metrics answers the registry in the Prometheus text
 * format; every other request gets 404.
 */
export async function startMetricsListener(metrics: Metrics, host: string, port: number): Promise<MetricsListener> {
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') return answer(res, 404, 'not found: metrics are served at GET /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return answer(res, 405, 'method not allowed: use GET /metrics\n');
    }
    try {
      const body = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      answer(res, 500, 'collecting metrics failed\n');
    }
  };
  const server: Server = createServer((req, res) => void handle(req, res));
  // Scrapers keep connections alive; none of them may hold the process at exit.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => reject(listenProblem(error, host, port));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${bound}`,
    port: bound,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

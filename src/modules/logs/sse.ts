import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

/**
 * A Server-Sent Events response on Fastify's raw reply. Fastify's reply is hijacked (it would
 * otherwise end the response when the handler returns); the headers already set on it by the
 * global hooks (security headers, X-Request-Id, RateLimit-*) move to the raw response first.
 * The access log and the request metrics still see the response: Fastify's onResponse hooks
 * run when the raw response finishes, hijacked or not.
 *
 * Writes after the client left are dropped; `closed` is aborted when the connection closes
 * (client gone) or `end()` was called. A slow reader makes `send` wait for the socket to
 * drain, so a stream never buffers without bound.
 */
export class SseResponse {
  private readonly raw: ServerResponse;
  private readonly abort = new AbortController();
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(reply: FastifyReply, options: { heartbeatMs: number; retryMs?: number }) {
    this.raw = reply.raw;
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) this.raw.setHeader(name, value as string);
    reply.hijack();
    this.raw.once('close', () => this.stop());
    this.raw.on('error', () => this.stop());
    // the client may have gone while the route was still checking the execution
    if (this.raw.destroyed || !this.raw.socket || this.raw.socket.destroyed) {
      this.stop();
      return;
    }
    // The server's socket inactivity timeout (server.requestTimeoutMs) is for requests; a
    // stream is idle between lines by design. A dead peer still shows: heartbeats fail to write.
    this.raw.setTimeout(0);
    this.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // proxies (nginx) would buffer the stream otherwise
      'x-accel-buffering': 'no',
      // an ended stream takes its connection with it (it is not reused for other requests)
      connection: 'close',
    });
    // EventSource reconnects after `retry` ms with Last-Event-ID (e.g. when a replica drains).
    this.raw.write(options.retryMs !== undefined ? `retry: ${options.retryMs}\n\n` : ':\n\n');
    this.heartbeat = setInterval(() => this.write(': heartbeat\n\n'), options.heartbeatMs);
    this.heartbeat.unref();
  }

  /** aborted once the stream is over (client disconnect or end()) */
  get closed(): AbortSignal {
    return this.abort.signal;
  }

  /** One event; resolves when the socket can take more. */
  async send(event: string, data: unknown, id?: number | string): Promise<void> {
    if (this.closed.aborted) return;
    // JSON.stringify never emits a raw newline, so data is always one `data:` line
    const frame = `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    if (this.write(frame)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.raw.off('drain', done);
        this.closed.removeEventListener('abort', done);
        resolve();
      };
      this.raw.on('drain', done);
      this.closed.addEventListener('abort', done, { once: true });
    });
  }

  end(): void {
    if (!this.raw.writableEnded) this.raw.end();
    this.stop();
  }

  private write(chunk: string): boolean {
    if (this.closed.aborted || this.raw.writableEnded || this.raw.destroyed) return true;
    return this.raw.write(chunk);
  }

  private stop(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    if (!this.abort.signal.aborted) this.abort.abort();
  }
}

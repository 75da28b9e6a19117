import type { FastifyReply } from 'fastify';
import { ApiError } from '../../common/errors/api-error';
import type { EngineLogger } from '../../engine/logger';
import type { FollowEvent } from '../../engine/runtime/log-follow';
import type { LogLine } from '../../engine/store/execution-types';
import { toIso } from '../../common/http/validation';
import { SseResponse } from './sse';

/** Stream timing and limits; tests change them (in-process servers share this object). */
export const LOG_STREAM_SETTINGS = {
  /** an SSE comment this often keeps proxies and idle timeouts from cutting a quiet stream */
  heartbeatMs: 15_000,
  /** how often a stream reads the store when nothing in this process woke it */
  pollMs: 250,
  /** lines per store read */
  batch: 500,
  /** EventSource's reconnection delay, sent as `retry:` */
  retryMs: 1000,
  /** open streams per process at most: each one reads the store every pollMs */
  maxOpen: 1000,
};

/** streams open in this process now */
let openStreams = 0;

const LAST_EVENT_ID = /^\d{1,15}$/;

/** The cursor: a Last-Event-ID header (a reconnecting EventSource keeps its URL, so it wins), else `after`. */
export function cursorFrom(lastEventId: string | undefined, after: number | undefined): number | undefined {
  const value = lastEventId?.trim() ?? '';
  // EventSource sends no Last-Event-ID before it has seen an id; an empty one means the same
  if (value === '') return after;
  if (!LAST_EVENT_ID.test(value)) {
    throw new ApiError('VALIDATION_ERROR', 'Last-Event-ID must be a log id (an integer in decimal digits), as sent in the id: field of a log event', [
      { field: 'Last-Event-ID', message: 'must be a log id in decimal digits' },
    ]);
  }
  return Number(value);
}

/** Takes one of the process's stream slots (429 when none is left); call the result once to give it back. */
export function reserveStreamSlot(): () => void {
  if (openStreams >= LOG_STREAM_SETTINGS.maxOpen) {
    throw new ApiError('RATE_LIMITED', `this server has ${LOG_STREAM_SETTINGS.maxOpen} log streams open, its limit; retry later (or poll GET .../logs?after=<id>)`, undefined, { 'retry-after': '5' });
  }
  openStreams++;
  let released = false;
  return () => {
    if (!released) openStreams--;
    released = true;
  };
}

/**
 * Writes a follower's events as SSE (`log` events with the log id as `id`, then `end`) until it
 * is done, the client leaves (then `stopped` is aborted, which stops the follower) or the engine
 * drains (the follower returns). Always ends the response and gives the stream slot back.
 */
export async function serveLogStream<T>(
  reply: FastifyReply,
  events: AsyncGenerator<FollowEvent, void, undefined>,
  stream: { stopped: AbortController; release: () => void },
  present: (line: LogLine) => T,
  logger: EngineLogger,
): Promise<void> {
  const { stopped, release } = stream;
  const sse = new SseResponse(reply, { heartbeatMs: LOG_STREAM_SETTINGS.heartbeatMs, retryMs: LOG_STREAM_SETTINGS.retryMs });
  sse.closed.addEventListener('abort', () => stopped.abort(), { once: true });
  if (sse.closed.aborted) stopped.abort(); // the client left before the stream began
  try {
    for await (const event of events) {
      if (event.type === 'lines') {
        for (const line of event.lines) await sse.send('log', present(line), line.id);
      } else {
        const { execution } = event;
        await sse.send('end', { state: execution.state, executionId: execution.id, endedAt: toIso(execution.endedAt), error: execution.error });
      }
      if (sse.closed.aborted) break;
    }
  } catch (error) {
    // the status line is gone: a failure mid-stream can only end it (the client reconnects)
    logger.warn({ err: error }, 'log stream ended by an error');
  } finally {
    release();
    stopped.abort();
    sse.end();
  }
}

import { request as httpRequest, type IncomingMessage } from 'node:http';

/**
 * A small Server-Sent Events client for the tests, parsed per the
 * WHATWG event-stream rules the tests rely on (fields `event`, `id`, `data`, `retry`, comment
 * lines starting with `:`, events dispatched on a blank line, CRLF/LF line ends), over a
 * response body read as it arrives.
 */
export interface SseEvent {
  event: string;
  id: string | undefined;
  data: string;
  /** ms since the stream opened */
  at: number;
}

export interface SseStream {
  status: number;
  headers: Headers;
  events: SseEvent[];
  comments: string[];
  retry: number | undefined;
  /** resolves when the server ends the stream (or it is aborted) */
  done: Promise<void>;
  /** true once the server closed the stream itself */
  ended(): boolean;
  /** resolves when `predicate` holds for the events so far; rejects after timeoutMs */
  until(predicate: (events: SseEvent[]) => boolean, timeoutMs?: number): Promise<SseEvent[]>;
  /** the client goes away (aborts the request) */
  abort(): void;
  /** the body of a non-200 answer (JSON error) */
  text: string;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const opened = Date.now();
  // node:http without an agent: one socket per stream, destroyed on abort. (fetch's pool
  // opens spare sockets after an abort that never send a request; a server close then waits
  // for them, which would blur what these tests measure.)
  const req = httpRequest(url, { headers: { accept: 'text/event-stream', ...headers }, agent: false });
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
    req.end();
  });
  req.on('error', () => undefined);
  const responseHeaders = new Headers();
  for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) responseHeaders.set(name, Array.isArray(value) ? value.join(', ') : value);
  const events: SseEvent[] = [];
  const comments: string[] = [];
  let retry: number | undefined;
  let ended = false;
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  if (res.statusCode !== 200) {
    let text = '';
    res.setEncoding('utf8');
    for await (const chunk of res) text += chunk;
    return { status: res.statusCode ?? 0, headers: responseHeaders, events, comments, retry, done: Promise.resolve(), ended: () => true, until: async () => events, abort: () => undefined, text };
  }
  res.setEncoding('utf8');
  let buffer = '';
  let current: { event?: string; id?: string; data: string[] } = { data: [] };
  const onText = (text: string) => {
    buffer += text;
    let newline: number;
    while ((newline = buffer.search(/\r\n|\n|\r/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
      if (line === '') {
        if (current.data.length > 0 || current.event !== undefined) {
          events.push({ event: current.event ?? 'message', id: current.id, data: current.data.join('\n'), at: Date.now() - opened });
        }
        current = { data: [] };
        continue;
      }
      if (line.startsWith(':')) {
        comments.push(line.slice(1).trim());
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') current.event = value;
      else if (field === 'data') current.data.push(value);
      else if (field === 'id') current.id = value;
      else if (field === 'retry' && /^\d+$/.test(value)) retry = Number(value);
    }
    notify();
  };
  res.on('data', onText);
  const done = new Promise<void>((resolve) => {
    res.once('end', () => {
      ended = true;
      notify();
      resolve();
    });
    res.once('close', () => {
      notify();
      resolve();
    });
  });
  const stream: SseStream = {
    status: 200,
    headers: responseHeaders,
    events,
    comments,
    get retry() {
      return retry;
    },
    done,
    ended: () => ended,
    text: '',
    abort: () => req.destroy(),
    until: (predicate, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (predicate(events)) {
            cleanup();
            resolve(events);
          } else if (ended) {
            cleanup();
            reject(new Error(`the stream ended before the condition held; events: ${JSON.stringify(events.map((e) => [e.event, e.id, e.data.slice(0, 80)]))}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`condition not met in ${timeoutMs} ms; events: ${JSON.stringify(events.map((e) => [e.event, e.id, e.data.slice(0, 80)]))}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
  };
  return stream;
}

/** the `log` events' payloads */
export function logEvents(events: SseEvent[]): any[] {
  return events.filter((e) => e.event === 'log').map((e) => ({ ...JSON.parse(e.data), eventId: e.id }));
}

export function endEvent(events: SseEvent[]): any | undefined {
  const end = events.find((e) => e.event === 'end');
  return end ? JSON.parse(end.data) : undefined;
}

export const hasEnd = (events: SseEvent[]) => events.some((e) => e.event === 'end');

import pino, { type Logger } from 'pino';

const SENSITIVE_QUERY = /(key|token|secret|password|auth)/i;

/** Query values that look like credentials are replaced, so a key pasted into a URL never lands in logs. */
export function redactUrl(url: string | undefined): string | undefined {
  if (!url) return url;
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  for (const name of [...params.keys()]) {
    if (SENSITIVE_QUERY.test(name)) params.set(name, '[redacted]');
  }
  return `${url.slice(0, q)}?${params.toString()}`;
}

/**
 * JSON logs to stdout (or a given file descriptor). The destination is asynchronous and
 * buffered: a synchronous write per request line would halve throughput. It is flushed on exit.
 */
export function createRootLogger(level: string, destination: number | string = 1): Logger {
  const stream = pino.destination({ dest: destination, sync: false, minLength: 4096 });
  const logger = pino(
    {
      level,
      base: { service: 'autokestra' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['authorization', 'apiKey', 'key', 'headers.authorization', 'headers["x-api-key"]'], censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
  const flush = () => {
    try {
      stream.flushSync();
    } catch {
      /* the stream may not be ready yet, or already closed */
    }
  };
  process.once('exit', flush);
  (logger as Logger & { flush?: () => void }).flush = flush;
  return logger;
}

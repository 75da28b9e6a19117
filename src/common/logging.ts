import { fstatSync } from 'node:fs';
import { isatty } from 'node:tty';
import pino, { type DestinationStream, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import SonicBoom from 'sonic-boom';

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

export const REDACTED = '[redacted]';

/**
 * Managed keys: `ak_` and at least 16 base62 characters (the 12-character display prefix that
 * identifies a key in lists and audit entries stays readable). Any character may arrive
 * percent-encoded (`%61` is `a`; `%30`-`%39`, `%41`-`%5A`, `%61`-`%7A` are the alphanumerics).
 */
const ENCODED_ALNUM = '%(?:3[0-9]|[46][1-9A-Fa-f]|[57][0-9Aa])';
const MANAGED_KEY_PATTERN = `(?:a|%61)(?:k|%6[Bb])(?:_|%5[Ff])(?:[0-9A-Za-z]|${ENCODED_ALNUM}){16,}`;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** `%2f` and `%2F` both: percent-encoding is case-insensitive in its hex digits. */
function caselessHex(encoded: string): string {
  return encoded.replace(/%([0-9A-F])([0-9A-F])/g, (_m, a: string, b: string) => `%${hexClass(a)}${hexClass(b)}`);
}

function hexClass(digit: string): string {
  return /[A-F]/.test(digit) ? `[${digit}${digit.toLowerCase()}]` : digit;
}

/**
 * One character of a secret in every form it can take in a JSON log line: as is (JSON-escaped,
 * as the line holds it), percent-encoded (a URL), `+` for a space (a form body).
 */
function characterForms(ch: string): string {
  const forms = new Set<string>([escapeRegExp(JSON.stringify(ch).slice(1, -1))]);
  // Any character may be percent-encoded, even one that need not be (`%61` for `a`).
  forms.add(caselessHex([...Buffer.from(ch, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('')));
  if (ch === ' ') forms.add('\\+');
  return forms.size === 1 ? [...forms][0] : `(?:${[...forms].join('|')})`;
}

/**
 * One precompiled pattern for every credential a log line must never hold: any `ak_…`-shaped
 * token and each configured static key (plaintext entries), in any mix of raw, JSON-escaped and
 * percent-encoded characters. Longer keys first, so that a key containing another is removed whole.
 */
export function credentialPattern(staticKeys: readonly string[]): RegExp {
  const plaintext = [...new Set(staticKeys.filter((key) => key.length > 0 && !key.startsWith('sha256:')))].sort((a, b) => b.length - a.length);
  const alternatives = [...plaintext.map((key) => [...key].map(characterForms).join('')), MANAGED_KEY_PATTERN];
  return new RegExp(alternatives.join('|'), 'g');
}

/** `logging.format`: `auto` is pretty on a terminal, JSON everywhere else (containers, CI, files, pipes). */
export type LogFormat = 'auto' | 'json' | 'pretty';

/** The format lines are written in, for a destination (an fd is a terminal or not; a file never is). */
export function resolveLogFormat(format: LogFormat, destination: number | string, isTerminal: (fd: number) => boolean = isatty): 'json' | 'pretty' {
  if (format !== 'auto') return format;
  return typeof destination === 'number' && isTerminal(destination) ? 'pretty' : 'json';
}

export interface RootLoggerOptions {
  /** `json` (the default), `pretty`, or `auto` (pretty when the destination is a terminal) */
  format?: LogFormat;
  /** plaintext static keys (and any other credential) to remove from every line */
  credentials?: readonly string[];
  /** longest the buffered, unwritten log may grow (a stalled reader); past it, lines are dropped */
  maxBufferBytes?: number;
}

/** Errors after which the destination will never accept a write again. */
const PERMANENT = new Set(['EPIPE', 'EBADF', 'ECONNRESET', 'ERR_STREAM_DESTROYED', 'EINVAL']);

export type RootLogger = Logger & {
  /** the format lines are written in (`auto` resolved for this destination) */
  format?: 'json' | 'pretty';
  /** writes out what is buffered; synchronous, so only where it cannot block (see below) */
  flush?: () => void;
  /** writes out what is buffered, waiting at most `timeoutMs` for the destination */
  flushWithin?: (timeoutMs: number) => Promise<void>;
  /** from now on, also mask workflow secrets (and their encodings) in every line */
  maskSecretsWith?: (masker: { readonly size: number; mask(text: string): string }) => void;
};

function isRegularFile(fd: number): boolean {
  try {
    return fd >= 0 && fstatSync(fd).isFile();
  } catch {
    return false;
  }
}

/** The longest a log line waits in the write batch before it is flushed anyway. */
const BATCH_LATENCY_MS = 500;

/**
 * JSON logs to stdout (or a given file descriptor or file). The destination is asynchronous and
 * buffered: a synchronous write per request line would halve throughput.
 *
 * Every line passes through one regular expression at the serialization boundary (pino's
 * `streamWrite` hook) that removes credentials wherever they appear: in a URL, a header, an error
 * message or a stack trace. Field rules (`redact`) cannot know every place a key can end up.
 *
 * A failing destination (the reader of a pipe went away or stopped reading, a full disk) never
 * fails a request or holds up shutdown: its errors are handled, lines are dropped rather than
 * piling up past `maxBufferBytes`, graceful shutdown waits a bounded time for the buffer to drain
 * (`flushWithin`), and the synchronous flush at exit runs only for regular files. (pino's own
 * destination flushes synchronously at exit: on a pipe whose reader stopped reading, that write
 * blocks forever and the process never exits, so SonicBoom is built here directly.)
 */
export function createRootLogger(level: string, destination: number | string = 1, options: RootLoggerOptions = {}): RootLogger {
  // A person at a terminal reads lines as they happen: no batching there (throughput matters
  // for pipes and files, where lines are written in batches of at least 4 KiB).
  const terminal = typeof destination === 'number' && isatty(destination);
  const stream = new SonicBoom({
    ...(typeof destination === 'number' ? { fd: destination } : { dest: destination }),
    sync: false,
    minLength: terminal ? 0 : 4096,
    maxLength: options.maxBufferBytes ?? 16 * 1024 * 1024,
  });
  let broken = false;
  stream.on('error', (error: NodeJS.ErrnoException) => {
    // The log sink failed: the server must not (an unhandled 'error' would crash it).
    if (PERMANENT.has(error.code ?? '')) broken = true;
  });
  // Batching must not delay a line indefinitely: on a quiet server a request line would sit in
  // the 4 KiB buffer until enough others followed it (an operator tailing `kubectl logs` would
  // see nothing). The first line into an empty batch arms one timer that flushes it; an idle
  // server holds no timer.
  let flushTimer: NodeJS.Timeout | null = null;
  const flushSoon = () => {
    flushTimer = null;
    if (broken) return;
    try {
      stream.flush();
    } catch {
      /* destroyed or failing: the error handler above has marked the sink */
    }
  };
  const sink: DestinationStream = {
    write(line: string) {
      if (broken) return;
      try {
        stream.write(line);
        if (!terminal && flushTimer === null) {
          flushTimer = setTimeout(flushSoon, BATCH_LATENCY_MS);
          flushTimer.unref();
        }
      } catch {
        broken = true;
      }
    },
  };
  // Human-readable lines for a person at a terminal. They are rendered from the JSON line after
  // the streamWrite hook below has scrubbed it, so the redaction applies to both formats alike.
  const format = resolveLogFormat(options.format ?? 'json', destination);
  if (format === 'pretty') {
    const prettify = prettyFactory({
      colorize: terminal,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,service',
    });
    const jsonSink = sink.write;
    sink.write = (line: string) => jsonSink(prettify(line));
  }
  const credentials = credentialPattern(options.credentials ?? []);
  // Workflow secrets are known only once the engine has read them (after the logger exists).
  let secrets: { readonly size: number; mask(text: string): string } | null = null;
  const scrub = (line: string): string => {
    const out = line.replace(credentials, REDACTED);
    return secrets !== null && secrets.size > 0 ? secrets.mask(out) : out;
  };
  const logger: RootLogger = pino(
    {
      level,
      base: { service: 'autokestra' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['authorization', 'apiKey', 'key', 'headers.authorization', 'headers["x-api-key"]'], censor: REDACTED },
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: scrub },
    },
    sink,
  );
  logger.format = format;
  logger.maskSecretsWith = (masker) => {
    secrets = masker;
  };
  logger.flush = () => {
    if (broken) return;
    try {
      stream.flushSync();
    } catch {
      /* not ready yet, already closed, or failing: nothing more can be done for these lines */
    }
  };
  logger.flushWithin = (timeoutMs) =>
    new Promise<void>((resolve) => {
      if (broken) return resolve();
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      try {
        stream.flush(() => {
          clearTimeout(timer);
          resolve();
        });
      } catch {
        clearTimeout(timer);
        resolve();
      }
    });
  process.once('exit', () => {
    if (isRegularFile((stream as SonicBoom & { fd: number }).fd)) logger.flush?.();
  });
  return logger;
}

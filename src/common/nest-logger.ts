import type { LoggerService } from '@nestjs/common';
import type { Logger } from 'pino';

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/**
 * Nest's start-up narration (a line per module initialized and per route mapped, ~50 lines):
 * useful when debugging the wiring, noise in an operator's log. Logged at debug; warnings and
 * errors from these contexts keep their level.
 */
const BOOT_CONTEXTS = new Set(['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestApplication']);

/**
 * Nest's logger, written to this app's own root pino logger (so through the credential and
 * secret scrubbing of common/logging.ts). Replaces nestjs-pino, of which only this mapping was
 * used: request lines come from a Fastify hook (server.ts), not from its middleware. Unlike
 * nestjs-pino it keeps no process-wide root logger, so a second app in one process logs to its own
 * destination.
 *
 * Nest calls `log(message, ...params)` with the context (the class name given to `new Logger(x)`)
 * as the last parameter; an object message is merged into the line (an Error goes to `err`), as
 * nestjs-pino did, so existing log lines keep their shape.
 */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  verbose(message: unknown, ...params: unknown[]): void {
    this.call('trace', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.call('debug', message, params);
  }
  log(message: unknown, ...params: unknown[]): void {
    this.call(BOOT_CONTEXTS.has(params[params.length - 1] as string) ? 'debug' : 'info', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.call('warn', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.call('error', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.call('fatal', message, params);
  }

  private call(level: Level, message: unknown, optional: unknown[]): void {
    const fields: Record<string, unknown> = {};
    let rest = optional;
    if (optional.length > 0) {
      fields.context = optional[optional.length - 1];
      rest = optional.slice(0, -1);
    }
    if (message instanceof Error) {
      fields.err = message;
      this.logger[level](fields, message.message);
    } else if (typeof message === 'object' && message !== null) {
      const msg = rest.find((p): p is string => typeof p === 'string');
      this.logger[level]({ ...fields, ...(message as Record<string, unknown>) }, msg);
    } else if (level === 'error' && typeof message === 'string' && rest.length === 1 && typeof rest[0] === 'string' && /\n\s*at /.test(rest[0])) {
      // Nest's own exception handlers pass (message, stack, context)
      const err = new Error(message);
      err.stack = rest[0];
      this.logger.error({ ...fields, err }, message);
    } else {
      this.logger[level](fields, String(message), ...rest);
    }
  }
}

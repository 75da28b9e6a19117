import 'reflect-metadata';
import type { AppConfig } from './common/config/config.schema';
import { bootstrap, type StartedServer } from './server';

/**
 * `autokestra serve`: bootstrap() with nothing added, graceful shutdown on SIGTERM/SIGINT
 * (readiness 503 first, in-flight requests finish, then the engine stops).
 */
export function serve(config: AppConfig): Promise<StartedServer> {
  return bootstrap({ config: config as AppConfig & Record<string, unknown> });
}

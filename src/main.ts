import 'reflect-metadata';
import type { AppConfig } from './common/config/config.schema';
import { startServer, type StartedServer } from './server';

/**
 * Production entry: starts the server with graceful shutdown on SIGTERM/SIGINT
 * (readiness 503 first, in-flight requests finish, then the engine stops).
 */
export async function bootstrap(config: AppConfig): Promise<StartedServer> {
  return startServer(config, { shutdownHooks: true });
}

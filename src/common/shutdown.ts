import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationShutdown } from '@nestjs/common';
import type { AppConfig } from './config/config.schema';
import type { RootLogger } from './logging';
import { EngineProvider } from './engine.provider';

export const APP_CONFIG = Symbol('APP_CONFIG');
export const ROOT_LOGGER = Symbol('ROOT_LOGGER');
/** How long shutdown waits for buffered log lines to reach a slow (or gone) destination. */
export const LOG_FLUSH_TIMEOUT_MS = 1000;

/**
 * Graceful stop: readiness turns 503 first (so load balancers stop routing), then Nest closes
 * the listener while in-flight requests finish, then the engine stops and the store closes.
 */
@Injectable()
export class ShutdownCoordinator implements BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(
    private readonly engine: EngineProvider,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(ROOT_LOGGER) private readonly logger: RootLogger,
  ) {}

  async beforeApplicationShutdown(): Promise<void> {
    this.engine.engine.beginDrain();
    if (this.config.server.drainDelayMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, this.config.server.drainDelayMs));
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.engine.engine.shutdown();
    // Bounded: a log reader that stopped reading must not keep the process from exiting.
    await this.logger.flushWithin?.(LOG_FLUSH_TIMEOUT_MS);
  }
}

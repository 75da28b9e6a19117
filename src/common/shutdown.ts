import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationShutdown } from '@nestjs/common';
import type { AppConfig } from './config/config.schema';
import { EngineProvider } from '../modules/engine/engine.provider';

export const APP_CONFIG = Symbol('APP_CONFIG');

/**
 * Graceful stop: readiness turns 503 first (so load balancers stop routing), then Nest closes
 * the listener while in-flight requests finish, then the engine stops and the store closes.
 */
@Injectable()
export class ShutdownCoordinator implements BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(
    private readonly engine: EngineProvider,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async beforeApplicationShutdown(): Promise<void> {
    this.engine.engine.beginDrain();
    if (this.config.server.drainDelayMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, this.config.server.drainDelayMs));
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.engine.engine.shutdown();
  }
}

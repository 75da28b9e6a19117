import { Injectable } from '@nestjs/common';
import type { Engine } from '../engine/engine';

/**
 * The Nest face of the engine: modules inject this, never the ORM. The engine is created before
 * Nest starts (it migrates the database) and handed to the module, so the CLI and the server
 * build it the same way.
 */
@Injectable()
export class EngineProvider {
  constructor(readonly engine: Engine) {}

  get workflows() {
    return this.engine.workflows;
  }

  getStateStore() {
    return this.engine.getStateStore();
  }
}

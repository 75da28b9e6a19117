import { Engine, type EngineLogger } from '../engine/engine';
import type { TaskType } from '../engine/tasks/task-type';
import type { AppConfig } from './config/config.schema';
import { engineOptionsFrom } from './config/engine-options';

export interface OpenEngineOptions {
  logger?: EngineLogger;
  /** environment for workflow secrets; process.env by default */
  env?: NodeJS.ProcessEnv;
  /** task types beside the built-in ones; a taken name stops the start */
  taskTypes?: readonly TaskType[];
}

/**
 * The one way an engine is built from the configuration: the Nest module's Engine provider and
 * every CLI command call this, so both run the same engine (store, migrations, secrets, types).
 */
export function openEngine(config: AppConfig, options: OpenEngineOptions = {}): Promise<Engine> {
  return Engine.open({ ...engineOptionsFrom(config, options.logger), env: options.env ?? process.env, taskTypes: options.taskTypes });
}

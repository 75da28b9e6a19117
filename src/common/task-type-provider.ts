import { applyDecorators, Injectable, SetMetadata, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, Reflector } from '@nestjs/core';
import type { TaskType } from '../engine/tasks/task-type';
import { EngineProvider } from './engine.provider';

export const TASK_TYPE_PROVIDER = 'autokestra:task-type';

/**
 * Marks a Nest provider as a task type: it is injectable (so it can use the team's own services)
 * and joins the engine's registry when the application initializes. The class implements the
 * TaskType contract (name, properties, run). Exported publicly as `@TaskType()`.
 */
export const TaskTypeProvider = (): ClassDecorator => applyDecorators(Injectable(), SetMetadata(TASK_TYPE_PROVIDER, true));

/**
 * Finds every `@TaskType()` provider in the application and registers it with the engine, before
 * anything listens or runs (onModuleInit: every provider exists by then). A name already taken,
 * by a built-in type or another provider, fails the start with both origins named.
 */
@Injectable()
export class TaskTypeExplorer implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly reflector: Reflector,
    private readonly engine: EngineProvider,
  ) {}

  onModuleInit(): void {
    for (const wrapper of this.discovery.getProviders()) {
      const { metatype, instance } = wrapper;
      if (!metatype || typeof metatype !== 'function' || !instance) continue;
      if (this.reflector.get<boolean>(TASK_TYPE_PROVIDER, metatype as new () => unknown) !== true) continue;
      this.engine.engine.registerTaskType(instance as TaskType, `provider ${metatype.name} (module ${wrapper.host?.metatype?.name ?? 'unknown'})`);
    }
  }
}

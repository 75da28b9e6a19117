/**
 * Autokestra's public surface: what a platform team's Nest modules may import (package
 * `autokestra`). Everything not exported here is internal and may change without notice; ESLint
 * keeps examples/ on this file (docs/extending.md).
 */
import 'reflect-metadata';
import type { TaskDefinition } from './engine/dsl/types';
import type { TaskType as TaskTypeContract } from './engine/tasks/task-type';
import { TaskTypeProvider } from './common/task-type-provider';

// Serving
export { bootstrap, type BootstrapOptions, type StartedServer } from './server';
export { AutokestraModule, type AutokestraModuleOptions, type AutokestraModuleAsyncOptions } from './autokestra.module';

// Authentication and authorization of routes
export { Authenticated, Public, RequireScopes, CurrentPrincipal, type AuthenticatedOptions } from './common/auth/decorators';
export { SCOPES, hasScopes, type Scope, type Principal, type Caller } from './engine/access/scopes';
/** true when a key restricted to `scope` (namespace globs; undefined = all) may act in `namespace` */
export { namespaceAllowed } from './engine/access/namespace-patterns';

// The engine and the audit trail
export { EngineProvider } from './common/engine.provider';
export type { Engine } from './engine/engine';
export { AuditService, type AuditEntry } from './common/audit.service';

// Errors in the one error shape, and their place in the OpenAPI document
export { ApiErrors } from './common/http/openapi';
export { ApiError, ERROR_STATUS, type ErrorCode } from './common/errors/api-error';
export { EngineError, NotFoundError, ValidationError, ConflictError } from './engine/errors';

// Configuration
export { ConfigError, loadConfig, loadConfigWithSections, type LoadConfigOptions, type LoadedConfig } from './common/config/load-config';
export type { AppConfig } from './common/config/config.schema';
export { defineConfigSection, ConfigSectionModule, type ConfigSection } from './common/config/config-sections';

// Task types
export { TaskFailure, abortableDelay, type TaskContext, type TaskRuntimeConfig, type PropertySchema, type PropertySpec, type PropertyKind } from './engine/tasks/task-type';

/**
 * `@TaskType()` on a class implementing the `TaskType` contract makes it a task type provider: it
 * can inject the module's services and joins the engine before it starts. The contract and the
 * decorator share the name, as a type and as a value.
 */
export const TaskType = TaskTypeProvider;
export type TaskType<T extends TaskDefinition = TaskDefinition> = TaskTypeContract<T>;
export type { TaskDefinition };

import { CONSTRUCT_SCHEMAS } from '../dsl/constructs';
import { COMMON_TASK_PROPERTIES, schemaProblems, type TaskTypeSchema } from '../dsl/property-schema';
import { failTaskType, logTaskType, outputTaskType, sleepTaskType } from './basic-tasks';
import { HttpTaskType } from './http-task';
import { ShellTaskType } from './shell-task';
import type { TaskRuntimeConfig, TaskType } from './task-type';

/** Task type names: what a workflow writes in `type:`. Dots allow a team prefix (`acme.notify`). */
export const TASK_TYPE_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

type Entry =
  /** a plugin-style type: the registry runs it through TaskType.run */
  | { schema: TaskTypeSchema; type: TaskType; origin: string }
  /** a language construct (container, subflow): the runtime runs it */
  | { schema: TaskTypeSchema; type: null; origin: string };

/**
 * Every task type this engine knows: the built-in ones and those passed in the engine options.
 * The DSL validator checks tasks against `schemas()`, the runner looks leaf types up with
 * `leaf()`. A name registered twice stops the start: which of two types a workflow meant
 * cannot be guessed.
 */
export class TaskTypeRegistry {
  private readonly entries = new Map<string, Entry>();
  /** bumped on every registration, so derived data (the DSL schemas) knows when to recompute */
  private versionValue = 0;

  get version(): number {
    return this.versionValue;
  }

  /** The built-in types, then `extra` (in order); throws on a duplicate or an invalid schema. */
  static withBuiltIns(extra: readonly TaskType[] = []): TaskTypeRegistry {
    const registry = new TaskTypeRegistry();
    const builtIn: TaskType[] = [logTaskType, sleepTaskType, new HttpTaskType(), outputTaskType, failTaskType];
    for (const type of builtIn) registry.register(type, 'built-in');
    for (const schema of Object.values(CONSTRUCT_SCHEMAS)) registry.add({ schema, type: null, origin: 'built-in' });
    registry.register(new ShellTaskType(), 'built-in');
    extra.forEach((type, index) => registry.register(type, `engine options taskTypes[${index}]`));
    return registry;
  }

  register(type: TaskType, origin = 'engine options'): void {
    if (type === null || typeof type !== 'object') throw new Error(`invalid task type (${origin}): expected an object with name, properties and run`);
    if (typeof type.run !== 'function') throw new Error(`invalid task type '${String(type.name)}' (${origin}): run must be a function`);
    const lists = Object.entries(type.properties ?? {}).filter(([, spec]) => spec?.type === 'tasks');
    if (lists.length > 0) {
      throw new Error(`invalid task type '${String(type.name)}' (${origin}): property '${lists[0][0]}' is a task list; nested task lists belong to the built-in containers (parallel, if, foreach)`);
    }
    this.add({ schema: { name: type.name, properties: type.properties }, type, origin });
  }

  private add(entry: Entry): void {
    const { name } = entry.schema;
    if (typeof name !== 'string' || !TASK_TYPE_NAME_PATTERN.test(name)) {
      throw new Error(`invalid task type name ${JSON.stringify(name)} (${entry.origin}): names are 1-64 letters, digits, '_', '.' or '-', starting with a letter`);
    }
    const existing = this.entries.get(name);
    if (existing) {
      throw new Error(`duplicate task type '${name}': registered by ${existing.origin} and again by ${entry.origin}; task type names must be unique`);
    }
    if (entry.schema.properties === null || typeof entry.schema.properties !== 'object') {
      throw new Error(`invalid task type '${name}' (${entry.origin}): properties must be an object (property name → schema)`);
    }
    const problems = schemaProblems(entry.schema, COMMON_TASK_PROPERTIES);
    if (problems.length > 0) throw new Error(`invalid task type '${name}' (${entry.origin}): ${problems.join('; ')}`);
    this.entries.set(name, entry);
    this.versionValue++;
  }

  get names(): string[] {
    return [...this.entries.keys()];
  }

  /** The type that runs tasks named `name` through TaskType.run; undefined for constructs and unknown names. */
  leaf(name: string): TaskType | undefined {
    return this.entries.get(name)?.type ?? undefined;
  }

  /**
   * What the DSL validator needs, as plain data (it travels to the parser thread). Types this
   * configuration switches off carry the diagnostic a task using them gets.
   */
  schemas(config: TaskRuntimeConfig): TaskTypeSchema[] {
    return [...this.entries.values()].map(({ schema, type }) => {
      const setting = type?.disabledBy?.(config) ?? null;
      return setting === null ? schema : { ...schema, disabled: `task type '${schema.name}' is disabled on this server (${setting})` };
    });
  }
}

/** The built-in types' schemas, shell switched on or off: what parseWorkflow uses by default. */
export function builtInTaskTypeSchemas(options: { shellEnabled: boolean }): readonly TaskTypeSchema[] {
  const cached = builtInSchemaCache.get(options.shellEnabled);
  if (cached) return cached;
  const config: TaskRuntimeConfig = { http: { maxResponseBytes: 0, allowCidrs: [], denyCidrs: [] }, shell: { enabled: options.shellEnabled, maxOutputBytes: 0 } };
  const schemas = TaskTypeRegistry.withBuiltIns().schemas(config);
  builtInSchemaCache.set(options.shellEnabled, schemas);
  return schemas;
}

const builtInSchemaCache = new Map<boolean, readonly TaskTypeSchema[]>();

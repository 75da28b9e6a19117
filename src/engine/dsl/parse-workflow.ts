import { Cron } from 'croner';
import { namespacePatternCovers } from '../access/namespace-patterns';
import { DiagnosticSink, closestMatch, formatPath, type Path, type PathSegment } from './diagnostics';
import {
  isMapping,
  readBoolean,
  readDuration,
  readInteger,
  readMapping,
  readNonEmptyString,
  readOneOf,
  readPattern,
  readPositiveInteger,
  readProperties,
  setEntry,
  readString,
  readStringMap,
  type Reader,
  type Report,
} from './readers';
import { childLists, COMMON_TASK_PROPERTIES, isContainer, readerFor, valueProperties, type ListMode, type TaskTypeSchema } from './property-schema';
import { checkCondition, checkTemplates as checkExpressionSyntax, collectReferences } from '../expressions';
import { findReferences, scanTemplates, type OutputReference } from './templates';
import {
  DEFAULT_TOOL_WAIT_MS,
  INPUT_TYPES,
  MAX_TOOL_WAIT_MS,
  TOOL_NAME_PATTERN,
  WORKFLOW_ID_PATTERN,
  type Diagnostic,
  type InputDefinition,
  type InputType,
  type OutputDefinition,
  type ToolAnnotations,
  type ToolSettings,
  type RetryPolicy,
  type TaskDefinition,
  type TriggerDefinition,
  type WorkflowDefinition,
} from './types';
import { loadYaml } from './yaml-source';
import { parseZonedDateTime, ZONED_DATE_TIME_HINT } from './datetime';
import { compileJsonSchema, describeSchemaError, type SchemaValidator } from './json-schema';

export interface ParseOptions {
  /**
   * Every task type the server knows, in order (the engine's TaskTypeRegistry.schemas()): the
   * properties each accepts, and the diagnostic of those this server switched off.
   */
  taskTypes: readonly TaskTypeSchema[];
  /** deepest nesting of lists and mappings; default 64 */
  maxDepth?: number;
  /** YAML alias expansion budget, see `yaml`'s ToJSOptions.maxAliasCount; default 100 */
  maxAliasCount?: number;
  /**
   * Which secrets a workflow may read. When given, every `secret('NAME')` with a literal name
   * must be readable from the workflow's namespace; the diagnostic is the same whether the
   * secret does not exist or is not granted to the namespace. Without it, no check. Plain data
   * (not a callback): large sources are parsed on a worker thread.
   */
  secretAccess?: SecretAccess;
}

/** Each secret's effective allow-list: [name, namespace globs]. Names only, never values. */
export type SecretGrants = ReadonlyArray<readonly [string, readonly string[]]>;

export interface SecretAccess {
  grants: SecretGrants;
  /** the applying caller's namespaces (undefined = all): outside them nothing is checked, the apply ends NOT_FOUND */
  callerNamespaces?: readonly string[];
}

/** Whether a workflow of `namespace` may read `name` under `access`. */
export function secretReadable(access: SecretAccess, grants: ReadonlyMap<string, readonly string[]>, name: string, namespace: string): boolean {
  const within = (globs: readonly string[]) => globs.some((glob) => namespacePatternCovers(glob, namespace));
  if (access.callerNamespaces && !within(access.callerNamespaces)) return true;
  const globs = grants.get(name);
  return globs !== undefined && within(globs);
}

export type ParseResult = { ok: true; definition: WorkflowDefinition } | { ok: false; diagnostics: Diagnostic[] };

export const DEFAULT_MAX_DEPTH = 64;
export const DEFAULT_MAX_ALIAS_COUNT = 100;
export const MAX_TASKS = 1000;
/** Every schedule is parsed at apply and evaluated by the scheduler on every tick. */
export const MAX_TRIGGERS = 100;
/** A response listing more problems than this helps nobody and could be large. */
export const MAX_DIAGNOSTICS = 500;

export const TASK_ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,99}$/;
export const INPUT_ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const NAMESPACE_PATTERN = /^[a-z0-9]([a-z0-9_-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9_-]*[a-z0-9])?)*$/i;
export const NAMESPACE_MAX_LENGTH = 200;
export const DEFAULT_NAMESPACE = 'default';

const TOP_LEVEL_PROPERTIES = ['id', 'namespace', 'description', 'labels', 'inputs', 'variables', 'timeout', 'concurrency', 'tasks', 'errors', 'triggers', 'outputs', 'tool'];
const INPUT_PROPERTIES = ['id', 'type', 'required', 'default', 'description', 'schema'];
const OUTPUT_PROPERTIES = ['id', 'type', 'value', 'description'];
const TOOL_PROPERTIES = ['name', 'title', 'description', 'annotations', 'wait'];
const TOOL_ANNOTATION_HINTS = ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const;
const TOOL_NAME_HINT = "tool names are 1-64 letters, digits, '_' or '-' (the names every LLM provider accepts)";
const RETRY_PROPERTIES = ['maxAttempts', 'delay', 'backoff', 'maxDelay'];
const TRIGGER_PROPERTIES = ['id', 'type', 'cron', 'timezone', 'inputs'];
const TRIGGER_TYPES = ['schedule'] as const;
/** Task properties that hold no expression: ids and types are patterns, descriptions are prose. */
const UNSCANNED_TASK_PROPERTIES = new Set(['id', 'type', 'description']);

const readWorkflowId = readPattern(WORKFLOW_ID_PATTERN, "workflow ids are 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit");
const readTaskId = readPattern(TASK_ID_PATTERN, "task ids are 1-100 letters, digits, '_' or '-', starting with a letter");
const readTriggerId = readPattern(WORKFLOW_ID_PATTERN, "trigger ids are 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit");
const readInputId = readPattern(INPUT_ID_PATTERN, "input ids are letters, digits and '_', not starting with a digit");
const readOutputId = readPattern(INPUT_ID_PATTERN, "output ids are letters, digits and '_', not starting with a digit");
const readToolName = readPattern(TOOL_NAME_PATTERN, TOOL_NAME_HINT);
const readOutputValue: Reader<string> = (value, path, report) => {
  if (typeof value === 'string') return value;
  report(path, "must be a string: a template such as '{{ outputs.sum.total }}'");
  return undefined;
};
const readNamespace: Reader<string> = (value, path, report) => {
  const text = readString(value, path, report);
  if (text === undefined) return undefined;
  if (text.length > NAMESPACE_MAX_LENGTH) {
    report(path, `must be at most ${NAMESPACE_MAX_LENGTH} characters`);
    return undefined;
  }
  return readPattern(NAMESPACE_PATTERN, "namespaces are dot-separated segments of letters, digits, '_' and '-' (e.g. team.data)")(text, path, report);
};

/**
 * Parses and validates a workflow written in the DSL (docs/dsl.md) into its normalized form.
 * Every problem is reported at once; the definition is returned only when there is none.
 */
export function parseWorkflow(source: string, options: ParseOptions): ParseResult {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  const maxAliasCount = options.maxAliasCount ?? DEFAULT_MAX_ALIAS_COUNT;
  const loaded = loadYaml(source, { maxDepth, maxAliasCount });
  const sink = new DiagnosticSink(loaded.locate);
  for (const problem of loaded.problems) sink.reportAtLine(problem.path, problem.message, problem.line);

  const definition = loaded.value === undefined ? null : new WorkflowValidator(sink, options).validate(loaded.value);
  if (definition === null || sink.count > 0) return { ok: false, diagnostics: sink.finish(MAX_DIAGNOSTICS) };
  return { ok: true, definition };
}

/** A task as seen by the reference checks, which need the tree, the paths and the raw values. */
interface TaskNode {
  id: string | null;
  /** null when the type is missing or unknown: such a task gets no type-specific checks */
  schema: TaskTypeSchema | null;
  path: Path;
  raw: Record<string, unknown>;
  childLists: { mode: ListMode; nodes: TaskNode[] }[];
  /** this task's id and the ids of every task nested in it */
  subtreeIds: string[];
}

interface TaskList {
  nodes: TaskNode[];
  definitions: TaskDefinition[];
}

/** Where an expression sits, which decides what it may refer to. */
interface ExpressionScope {
  /** ids whose outputs may exist when the expression is evaluated; null: no outputs at all */
  visibleOutputs: ReadonlySet<string> | null;
  /** the task evaluating the expression, or a description of the place ("workflow variables") */
  owner: { taskId: string } | { place: string };
  inLoop: boolean;
}

class WorkflowValidator {
  private readonly report: Report;
  /** every task id, with the path of its first definition */
  private readonly taskIds = new Map<string, Path>();
  private taskCount = 0;
  /** `secret('NAME')` calls with a literal name, where they were found */
  private readonly secretReferences: { name: string; path: Path }[] = [];
  private readonly types: ReadonlyMap<string, TaskTypeSchema>;
  private readonly typeNames: string[];
  /** every property of every type: what a task of unknown type may hold */
  private readonly allTaskProperties: string[];

  constructor(
    sink: DiagnosticSink,
    private readonly options: ParseOptions,
  ) {
    this.report = (path, message) => sink.report(path, message);
    this.types = new Map(options.taskTypes.map((schema) => [schema.name, schema]));
    this.typeNames = [...this.types.keys()];
    this.allTaskProperties = [...new Set([...COMMON_TASK_PROPERTIES, ...options.taskTypes.flatMap((schema) => Object.keys(schema.properties))])];
  }

  validate(root: unknown): WorkflowDefinition | null {
    // [ \t]* and not \s*: with /m, \s* would rescan every following line from each line start
    // (quadratic: 17 s for a quoted string of 200,000 newlines).
    if (typeof root === 'string' && /^[ \t]*id[ \t]*:/m.test(root)) {
      // A client that JSON-encodes the YAML text (openapi-fetch's default body serializer, a
      // fetch with JSON.stringify) sends one quoted string: YAML reads it as a bare scalar.
      this.report([], 'the body is the workflow YAML encoded as one quoted (JSON) string; send the YAML text itself as the body with Content-Type: application/yaml (openapi-fetch: bodySerializer: (yaml) => yaml)');
      return null;
    }
    if (!isMapping(root)) {
      this.report([], 'a workflow must be a YAML mapping (with id, tasks, ...)');
      return null;
    }
    readProperties(root, [], this.report, TOP_LEVEL_PROPERTIES, ['id', 'tasks']);

    const id = this.required(root, 'id', [], readWorkflowId);
    const namespace = this.optional(root, 'namespace', [], readNamespace);
    const description = this.optional(root, 'description', [], readString);
    const labels = this.optional(root, 'labels', [], readStringMap());
    const inputs = root.inputs == null ? [] : this.inputs(root.inputs, ['inputs']);
    const variables = this.optional(root, 'variables', [], readMapping);
    const timeoutMs = this.optional(root, 'timeout', [], readDuration({ positive: true }));
    const concurrency = root.concurrency == null ? null : this.concurrency(root.concurrency, ['concurrency']);
    const tasks = 'tasks' in root ? this.taskList(root.tasks, ['tasks'], true) : { nodes: [], definitions: [] };
    const errors = root.errors == null ? { nodes: [], definitions: [] } : this.taskList(root.errors, ['errors'], false);
    const triggers = root.triggers == null ? [] : this.triggers(root.triggers, ['triggers']);
    const outputs = root.outputs == null ? [] : this.outputs(root.outputs, ['outputs']);
    const tool = root.tool == null ? null : this.tool(root.tool, ['tool'], id, description);

    if (this.taskCount > MAX_TASKS) {
      this.report(['tasks'], `too many tasks: ${this.taskCount} (at most ${MAX_TASKS} per workflow, nested tasks and errors included)`);
    }
    if (variables) this.scanValue(variables, ['variables'], { visibleOutputs: null, owner: { place: 'workflow variables' }, inLoop: false });
    this.checkReferences(tasks.nodes, errors.nodes);
    // Declared outputs are computed once every task has succeeded: they see the whole main tree.
    const outputScope: ExpressionScope = { visibleOutputs: new Set(tasks.nodes.flatMap((node) => node.subtreeIds)), owner: { place: 'workflow outputs' }, inLoop: false };
    for (const output of outputs) this.checkTemplates(output.definition.value, output.path, outputScope);
    // An invalid namespace was reported already: checking secrets against it would say nothing.
    const secretNamespace = root.namespace == null ? DEFAULT_NAMESPACE : namespace;
    if (secretNamespace !== undefined) this.checkSecrets(secretNamespace);

    return {
      id: id ?? '',
      namespace: namespace ?? DEFAULT_NAMESPACE,
      description: description ?? null,
      labels: labels ?? {},
      inputs,
      variables: variables ?? {},
      timeoutMs: timeoutMs ?? null,
      concurrency,
      tasks: tasks.definitions,
      errors: errors.definitions,
      triggers,
      outputs: outputs.map((output) => output.definition),
      tool,
    };
  }

  /** Reads `obj[key]` if present; a required key that is missing was reported by readProperties. */
  private required<T>(obj: Record<string, unknown>, key: string, path: Path, read: Reader<T>): T | undefined {
    return key in obj ? read(obj[key], [...path, key], this.report) : undefined;
  }

  /** Like `required`, but an explicit null means "not set", as YAML authors often write `key:`. */
  private optional<T>(obj: Record<string, unknown>, key: string, path: Path, read: Reader<T>): T | undefined {
    return obj[key] == null ? undefined : read(obj[key], [...path, key], this.report);
  }

  private list(value: unknown, path: Path, what: string): unknown[] {
    if (Array.isArray(value)) return value;
    this.report(path, `must be a list of ${what}`);
    return [];
  }

  // ---- inputs -------------------------------------------------------------------------------

  private inputs(value: unknown, path: Path): InputDefinition[] {
    const seen = new Map<string, Path>();
    const inputs: InputDefinition[] = [];
    this.list(value, path, 'inputs').forEach((raw, index) => {
      const itemPath = [...path, index];
      const input = readProperties(raw, itemPath, this.report, INPUT_PROPERTIES, ['id', 'type']);
      if (!input) return;
      const id = this.required(input, 'id', itemPath, readInputId);
      if (id !== undefined) this.checkUnique(seen, id, itemPath, 'input');
      const type = this.required(input, 'type', itemPath, readOneOf(INPUT_TYPES));
      const definition: InputDefinition = {
        id: id ?? '',
        type: type ?? 'string',
        required: this.optional(input, 'required', itemPath, readBoolean) ?? false,
        description: this.optional(input, 'description', itemPath, readString) ?? null,
      };
      const schema = input.schema == null ? undefined : this.inputSchema(input.schema, type, [...itemPath, 'schema']);
      if (schema) definition.schema = schema.value;
      if ('default' in input) {
        if (type !== undefined) this.checkInputDefault(input.default, type, [...itemPath, 'default']);
        if (schema && input.default != null && !schema.validate(input.default)) {
          this.report([...itemPath, 'default'], describeSchemaError(schema.validate.errors));
        }
        definition.default = input.default;
      }
      inputs.push(definition);
    });
    return inputs;
  }

  /** A json input's JSON Schema: compiled now, so that an unusable one is an apply-time diagnostic. */
  private inputSchema(value: unknown, type: InputType | undefined, path: Path): { value: Record<string, unknown>; validate: SchemaValidator } | undefined {
    if (type !== undefined && type !== 'json') {
      this.report(path, `only inputs of type 'json' take a schema (this input's type is '${type}'; its type already says what it accepts)`);
      return undefined;
    }
    if (!isMapping(value)) {
      this.report(path, 'must be a mapping: a JSON Schema (2020-12) such as {type: object, properties: {...}}');
      return undefined;
    }
    const compiled = compileJsonSchema(value);
    if (!compiled.ok) {
      this.report(path, compiled.problem);
      return undefined;
    }
    return { value, validate: compiled.validate };
  }

  private checkInputDefault(value: unknown, type: InputType, path: Path): void {
    const fits: Record<InputType, [boolean, string]> = {
      string: [typeof value === 'string', 'a string'],
      number: [typeof value === 'number' && Number.isFinite(value), 'a number'],
      integer: [typeof value === 'number' && Number.isSafeInteger(value), 'an integer'],
      boolean: [typeof value === 'boolean', 'a boolean'],
      json: [true, 'any JSON value'],
      datetime: [typeof value === 'string' && parseZonedDateTime(value) !== null, ZONED_DATE_TIME_HINT],
    };
    const [ok, expected] = fits[type];
    if (!ok) this.report(path, `must be ${expected}, as the input's type is '${type}'`);
  }

  private checkUnique(seen: Map<string, Path>, id: string, path: Path, what: string): void {
    const first = seen.get(id);
    if (first) this.report([...path, 'id'], `duplicate ${what} id '${id}' (first defined at ${formatPath(first)})`);
    else seen.set(id, path);
  }

  // ---- declared outputs and tool --------------------------------------------------------

  private outputs(value: unknown, path: Path): { definition: OutputDefinition; path: Path }[] {
    const seen = new Map<string, Path>();
    const outputs: { definition: OutputDefinition; path: Path }[] = [];
    this.list(value, path, 'outputs').forEach((raw, index) => {
      const itemPath = [...path, index];
      const output = readProperties(raw, itemPath, this.report, OUTPUT_PROPERTIES, ['id', 'type', 'value']);
      if (!output) return;
      const id = this.required(output, 'id', itemPath, readOutputId);
      if (id !== undefined) this.checkUnique(seen, id, itemPath, 'output');
      const type = this.required(output, 'type', itemPath, readOneOf(INPUT_TYPES));
      const valueText = this.required(output, 'value', itemPath, readOutputValue);
      const description = this.optional(output, 'description', itemPath, readString) ?? null;
      outputs.push({ definition: { id: id ?? '', type: type ?? 'string', value: valueText ?? '', description }, path: [...itemPath, 'value'] });
    });
    return outputs;
  }

  /** `tool:` with its defaults: the name is the workflow id, the description the workflow's. */
  private tool(value: unknown, path: Path, workflowId: string | undefined, workflowDescription: string | undefined): ToolSettings | null {
    if (!isMapping(value)) {
      this.report(path, "must be a mapping (write 'tool: {}' to offer the workflow as a tool with the defaults)");
      return null;
    }
    const raw = readProperties(value, path, this.report, TOOL_PROPERTIES, [])!;
    let name = this.optional(raw, 'name', path, readToolName);
    if (raw.name == null && workflowId !== undefined) {
      if (TOOL_NAME_PATTERN.test(workflowId)) name = workflowId;
      else this.report(path, `the workflow id '${workflowId}' is not a valid tool name (${TOOL_NAME_HINT}): set tool.name`);
    }
    const title = this.optional(raw, 'title', path, readString) ?? null;
    const ownDescription = this.optional(raw, 'description', path, readNonEmptyString('must not be empty (or leave it out to use the workflow description)'));
    const description = ownDescription ?? (workflowDescription?.trim() ? workflowDescription : undefined);
    if (description === undefined && raw.description == null) {
      this.report(path, "a tool needs a description, which agents read to decide when to call it: set tool.description or the workflow's description");
    }
    const annotations = raw.annotations == null ? {} : this.toolAnnotations(raw.annotations, [...path, 'annotations']);
    let waitMs = this.optional(raw, 'wait', path, readDuration({ positive: true })) ?? DEFAULT_TOOL_WAIT_MS;
    if (waitMs > MAX_TOOL_WAIT_MS) {
      this.report([...path, 'wait'], `must be at most 5m (an invocation still running after that answers with its execution id)`);
      waitMs = MAX_TOOL_WAIT_MS;
    }
    return { name: name ?? '', title, description: description ?? '', annotations, waitMs };
  }

  private toolAnnotations(value: unknown, path: Path): ToolAnnotations {
    const raw = readProperties(value, path, this.report, ['title', ...TOOL_ANNOTATION_HINTS], []);
    const annotations: ToolAnnotations = {};
    if (!raw) return annotations;
    const title = this.optional(raw, 'title', path, readString);
    if (title !== undefined) annotations.title = title;
    for (const hint of TOOL_ANNOTATION_HINTS) {
      const flag = this.optional(raw, hint, path, readBoolean);
      if (flag !== undefined) annotations[hint] = flag;
    }
    return annotations;
  }

  // ---- small top-level objects ----------------------------------------------------------

  private concurrency(value: unknown, path: Path): { limit: number } | null {
    const raw = readProperties(value, path, this.report, ['limit'], ['limit']);
    if (!raw) return null;
    return { limit: this.required(raw, 'limit', path, readPositiveInteger) ?? 1 };
  }

  private retry(value: unknown, path: Path): RetryPolicy | null {
    const raw = readProperties(value, path, this.report, RETRY_PROPERTIES, ['maxAttempts']);
    if (!raw) return null;
    const maxAttempts = this.required(raw, 'maxAttempts', path, readInteger(1, 100, 'must be an integer between 1 and 100'));
    const delayMs = this.optional(raw, 'delay', path, readDuration()) ?? 1000;
    const backoff = this.optional(raw, 'backoff', path, readOneOf(['constant', 'exponential'] as const)) ?? 'constant';
    const maxDelayMs = this.optional(raw, 'maxDelay', path, readDuration()) ?? null;
    if (maxDelayMs !== null && maxDelayMs < delayMs) this.report([...path, 'maxDelay'], 'must not be shorter than delay');
    return { maxAttempts: maxAttempts ?? 1, delayMs, backoff, maxDelayMs };
  }

  // ---- triggers -------------------------------------------------------------------------

  private triggers(value: unknown, path: Path): TriggerDefinition[] {
    const seen = new Map<string, Path>();
    const triggers: TriggerDefinition[] = [];
    const list = this.list(value, path, 'triggers');
    if (list.length > MAX_TRIGGERS) {
      this.report(path, `too many triggers: ${list.length} (at most ${MAX_TRIGGERS} per workflow)`);
      return triggers;
    }
    list.forEach((raw, index) => {
      const itemPath = [...path, index];
      const trigger = readProperties(raw, itemPath, this.report, TRIGGER_PROPERTIES, ['id', 'type', 'cron']);
      if (!trigger) return;
      const id = this.required(trigger, 'id', itemPath, readTriggerId);
      if (id !== undefined) this.checkUnique(seen, id, itemPath, 'trigger');
      this.required(trigger, 'type', itemPath, readTriggerType);
      const timezone = this.optional(trigger, 'timezone', itemPath, readTimezone);
      // An invalid zone was reported already; checking the cron against UTC avoids a second report.
      const cron = this.required(trigger, 'cron', itemPath, readCron(timezone ?? 'UTC'));
      const inputs = this.optional(trigger, 'inputs', itemPath, readMapping) ?? {};
      this.scanValue(inputs, [...itemPath, 'inputs'], { visibleOutputs: null, owner: { place: 'trigger inputs' }, inLoop: false });
      triggers.push({ id: id ?? '', type: 'schedule', cron: cron ?? '', timezone: timezone ?? 'UTC', inputs });
    });
    return triggers;
  }

  // ---- tasks ----------------------------------------------------------------------------

  private taskList(value: unknown, path: Path, nonEmpty: boolean): TaskList {
    const result: TaskList = { nodes: [], definitions: [] };
    if (!Array.isArray(value)) {
      this.report(path, 'must be a list of tasks');
      return result;
    }
    if (nonEmpty && value.length === 0) this.report(path, 'must contain at least one task');
    value.forEach((raw, index) => {
      const { node, definition } = this.task(raw, [...path, index]);
      result.nodes.push(node);
      if (definition) result.definitions.push(definition);
    });
    return result;
  }

  private task(raw: unknown, path: Path): { node: TaskNode; definition: TaskDefinition | null } {
    const node: TaskNode = { id: null, schema: null, path, raw: {}, childLists: [], subtreeIds: [] };
    if (!isMapping(raw)) {
      this.report(path, 'must be a mapping (a task with id and type)');
      return { node, definition: null };
    }
    // Past the cap the workflow is refused anyway: count the rest, check nothing more, so that the
    // work stays bounded (reference checks are quadratic in the number of tasks).
    if (this.taskCount >= MAX_TASKS) {
      this.taskCount += countTasks(raw, this.types);
      return { node, definition: null };
    }
    this.taskCount++;
    node.raw = raw;

    const spec = this.taskType(raw, path);
    node.schema = spec;
    // Without a known type the type-specific properties are unknown too: accept any task property.
    const allowed = spec === null ? this.allTaskProperties : [...COMMON_TASK_PROPERTIES, ...Object.keys(spec.properties)];
    const required = ['id', 'type'];
    if (spec !== null) {
      // values first, then nested lists: the order of today's diagnostics
      for (const [name, property] of valueProperties(spec)) if (property.required) required.push(name);
      for (const [name, property] of childLists(spec)) if (property.required) required.push(name);
    }
    readProperties(raw, path, this.report, allowed, required);

    const id = this.required(raw, 'id', path, readTaskId);
    // Even an ill-formed id is registered, so that references to it are not reported twice.
    if (typeof raw.id === 'string') {
      node.id = raw.id;
      node.subtreeIds.push(raw.id);
      this.checkUnique(this.taskIds, raw.id, path, 'task');
    }
    const description = this.optional(raw, 'description', path, readString) ?? null;
    const timeoutMs = this.optional(raw, 'timeout', path, readDuration({ positive: true })) ?? null;
    const retry = raw.retry == null ? null : this.retry(raw.retry, [...path, 'retry']);
    if (raw.retry != null && spec !== null && isContainer(spec)) {
      // A container re-running its children would re-run completed tasks; retry the leaves instead.
      this.report([...path, 'retry'], `retry is not supported on '${spec.name}' tasks; put it on the tasks inside`);
    }
    if (spec === null) return { node, definition: null };

    const values = new Map<string, unknown>();
    for (const [name, property] of valueProperties(spec)) {
      const read = readerFor(property);
      values.set(name, property.required ? this.required(raw, name, path, read) : this.optional(raw, name, path, read));
    }
    for (const [name, property] of childLists(spec)) {
      const required = property.required === true;
      if (raw[name] === undefined || (raw[name] === null && !required)) continue;
      const list = this.taskList(raw[name], [...path, name], required);
      node.childLists.push({ mode: property.mode, nodes: list.nodes });
      for (const child of list.nodes) for (const id of child.subtreeIds) node.subtreeIds.push(id);
      values.set(name, list.definitions);
    }

    // With an invalid property the definition is thrown away, so only the valid case matters here.
    const definition: TaskDefinition = { id: id ?? '', type: spec.name, description, timeoutMs, retry };
    for (const [name, property] of Object.entries(spec.properties)) {
      const value = values.get(name);
      if (value !== undefined) setEntry(definition, property.as ?? name, value);
      else if (property.default !== undefined) setEntry(definition, property.as ?? name, structuredClone(property.default));
    }
    return { node, definition };
  }

  private taskType(raw: Record<string, unknown>, path: Path): TaskTypeSchema | null {
    const typePath = [...path, 'type'];
    if (!('type' in raw)) return null;
    const type = raw.type;
    const names = this.typeNames;
    if (typeof type !== 'string') {
      this.report(typePath, `must be a string (one of ${names.join(', ')})`);
      return null;
    }
    const schema = this.types.get(type);
    if (schema === undefined) {
      const suggestion = closestMatch(type, names);
      this.report(typePath, suggestion
        ? `unknown task type '${type}'; did you mean '${suggestion}'?`
        : `unknown task type '${type}' (one of ${names.join(', ')})`);
      return null;
    }
    if (schema.disabled !== undefined) this.report(typePath, schema.disabled);
    return schema;
  }

  // ---- expressions ----------------------------------------------------------------------

  /**
   * A task may use the outputs of tasks that finished before it starts: earlier tasks of its own
   * sequence and earlier siblings of each enclosing container, with everything nested in them.
   * Never its own ancestors (still running), concurrent siblings, or later tasks.
   * `errors` run after the main tree, so they see all of it.
   */
  private checkReferences(main: TaskNode[], errors: TaskNode[]): void {
    this.checkTaskList(main, new Set(), 'sequential', false);
    this.checkTaskList(errors, new Set(main.flatMap((node) => node.subtreeIds)), 'sequential', false);
  }

  private checkTaskList(nodes: TaskNode[], visibleAtStart: ReadonlySet<string>, mode: ListMode, inLoop: boolean): void {
    const visible = new Set(visibleAtStart);
    for (const node of nodes) {
      // Checking is synchronous, so the growing set is what this task saw when it started.
      this.checkTask(node, mode === 'sequential' ? visible : visibleAtStart, inLoop);
      if (mode === 'sequential') for (const id of node.subtreeIds) visible.add(id);
    }
  }

  private checkTask(node: TaskNode, visible: ReadonlySet<string>, inLoop: boolean): void {
    const spec = node.schema;
    if (spec === null) return;
    const scanned = new Set<string>([...COMMON_TASK_PROPERTIES, ...valueProperties(spec).map(([name]) => name)]);
    const scope: ExpressionScope = { visibleOutputs: visible, owner: { taskId: node.id ?? '?' }, inLoop };
    for (const [key, value] of Object.entries(node.raw)) {
      if (scanned.has(key) && !UNSCANNED_TASK_PROPERTIES.has(key)) this.scanValue(value, [...node.path, key], scope);
    }
    // A condition may be a bare expression (no braces): check its syntax and references too.
    for (const [name, property] of valueProperties(spec)) {
      const condition = node.raw[name];
      if (property.type === 'condition' && typeof condition === 'string' && !condition.includes('{{')) {
        this.checkTemplates(`{{${condition}}}`, [...node.path, name], scope, checkCondition(condition));
      }
    }
    for (const child of node.childLists) this.checkTaskList(child.nodes, visible, child.mode, inLoop || spec.loopBody === true);
  }

  /**
   * Depth is bounded by the loader (maxDepth), so plain recursion is safe here. One path array is
   * extended and shortened in place and copied only where a template is found: copying it for
   * every value would cost the depth again per value.
   */
  private scanValue(value: unknown, path: Path, scope: ExpressionScope, at: PathSegment[] = [...path]): void {
    if (typeof value === 'string') {
      if (value.includes('{{')) this.checkTemplates(value, [...at], scope);
    } else if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) {
        at.push(index);
        this.scanValue(value[index], path, scope, at);
        at.pop();
      }
    } else if (isMapping(value)) {
      for (const key of Object.keys(value)) {
        at.push(key);
        this.scanValue(value[key], path, scope, at);
        at.pop();
      }
    }
  }

  private checkTemplates(text: string, path: Path, scope: ExpressionScope, syntaxProblems?: string[]): void {
    if (!text.includes('{{')) return;
    if (this.options.secretAccess && text.includes('secret')) {
      for (const name of collectReferences(text).secrets) this.secretReferences.push({ name, path });
    }
    const templates = scanTemplates(text);
    if (templates.every((t) => t.terminated)) {
      for (const problem of syntaxProblems ?? checkExpressionSyntax(text)) this.report(path, `invalid expression ${problem}`);
    }
    for (const template of templates) {
      if (!template.terminated) {
        this.report(path, "unterminated expression: '{{' has no matching '}}'");
        continue;
      }
      const references = findReferences(template.expression);
      if (!scope.inLoop) {
        for (const name of references.loopVariables) this.report(path, `'${name}' is only available inside a foreach`);
      }
      for (const reference of references.outputs) this.checkOutputReference(reference, path, scope);
    }
  }

  /**
   * One message for "no such secret" and "not granted here" alike: an apply must not tell its
   * caller which secrets exist outside its namespace. It names what to fix on either side.
   */
  private checkSecrets(namespace: string): void {
    const access = this.options.secretAccess;
    if (!access) return;
    const grants = new Map(access.grants);
    for (const { name, path } of this.secretReferences) {
      if (secretReadable(access, grants, name, namespace)) continue;
      const shown = name.length > 100 ? `${name.slice(0, 100)}...` : name;
      this.report(path, `secret '${shown}' is not available in namespace '${namespace}': no secret of that name is granted to this namespace (define it, or add '${namespace}' to its namespaces)`);
    }
  }

  private checkOutputReference(reference: OutputReference, path: Path, scope: ExpressionScope): void {
    if (scope.visibleOutputs === null) {
      const place = 'place' in scope.owner ? scope.owner.place : 'this place';
      this.report(path, `task outputs are not available in ${place}`);
      return;
    }
    const { taskId, dashedId } = reference;
    if (dashedId && this.taskIds.has(dashedId) && !this.taskIds.has(taskId)) {
      this.report(path, `'outputs.${dashedId}' reads as a subtraction; write outputs['${dashedId}']`);
      return;
    }
    if (!this.taskIds.has(taskId)) {
      this.report(path, `expression references outputs of unknown task '${taskId}'`);
    } else if (!scope.visibleOutputs.has(taskId)) {
      if ('place' in scope.owner) {
        this.report(path, `expression references outputs of task '${taskId}', which does not run before ${scope.owner.place} are computed (only the workflow's tasks do, not its errors tasks)`);
        return;
      }
      this.report(path, `expression references outputs of task '${taskId}', which cannot have run before task '${scope.owner.taskId}'`);
    }
  }
}

// ---- readers that only this file needs --------------------------------------------------

const readTriggerType: Reader<'schedule'> = (value, path, report) => {
  if (value === 'schedule') return value;
  report(path, typeof value === 'string'
    ? `unknown trigger type '${value}'; only ${TRIGGER_TYPES.map((t) => `'${t}'`).join(', ')} is supported`
    : 'must be a string');
  return undefined;
};

/** Building an Intl formatter is slow; the answer for a zone name never changes. */
const knownZones = new Map<string, boolean>();

function isKnownTimezone(zone: string): boolean {
  let known = knownZones.get(zone);
  if (known === undefined) {
    try {
      new Intl.DateTimeFormat(undefined, { timeZone: zone });
      known = true;
    } catch {
      known = false;
    }
    if (knownZones.size < 1000) knownZones.set(zone, known);
  }
  return known;
}

const readTimezone: Reader<string> = (value, path, report) => {
  const zone = readString(value, path, report);
  if (zone === undefined) return undefined;
  if (isKnownTimezone(zone)) return zone;
  report(path, `unknown time zone '${zone}' (expected an IANA name such as 'UTC' or 'Europe/Paris')`);
  return undefined;
};

/** Tasks in `raw` and in every task list nested in it (containers hold lists of tasks). */
function countTasks(raw: Record<string, unknown>, types: ReadonlyMap<string, TaskTypeSchema>): number {
  let count = 1;
  const spec = typeof raw.type === 'string' ? types.get(raw.type) : undefined;
  for (const [name] of spec ? childLists(spec) : []) {
    const list = raw[name];
    if (Array.isArray(list)) for (const item of list) if (isMapping(item)) count += countTasks(item, types);
  }
  return count;
}

function readCron(timezone: string): Reader<string> {
  return (value, path, report) => {
    const expression = readString(value, path, report);
    if (expression === undefined) return undefined;
    const fields = expression.trim().split(/\s+/).filter(Boolean).length;
    if (fields !== 5 && fields !== 6) {
      report(path, `invalid cron expression '${expression}': expected 5 fields (minute hour day month weekday) or 6 (with seconds first), found ${fields}`);
      return undefined;
    }
    let job: Cron | undefined;
    try {
      job = new Cron(expression, { timezone, paused: true });
      if (job.nextRun() == null) {
        report(path, `cron expression '${expression}' never fires`);
        return undefined;
      }
      return expression;
    } catch (error) {
      const reason = (error instanceof Error ? error.message : String(error)).replace(/^CronPattern:\s*/, '');
      report(path, `invalid cron expression '${expression}': ${reason}`);
      return undefined;
    } finally {
      job?.stop();
    }
  };
}


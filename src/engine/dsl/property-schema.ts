import { splitCommandLine } from './command-line';
import {
  readAny,
  readBoolean,
  readDuration,
  readInteger,
  readMapping,
  readNonEmptyString,
  readOneOf,
  readPattern,
  readString,
  readStringMap,
  type Reader,
} from './readers';

/** Properties every task accepts; a task type declares only its own. */
export const COMMON_TASK_PROPERTIES = ['id', 'type', 'description', 'timeout', 'retry'] as const;

/**
 * How the tasks of a nested list run: one after another (a later one can see the outputs of an
 * earlier one) or concurrently (siblings cannot see each other).
 */
export type ListMode = 'sequential' | 'concurrent';

/**
 * What one task property accepts, as data: the DSL validator turns it into a reader. It is plain
 * data (no functions) because large workflows are validated on a worker thread and the schemas
 * of every task type travel there with the source (structured clone keeps RegExps).
 */
export type PropertyKind =
  /** any string; `nonEmpty` refuses blank text; `pattern` (+ `patternHint`) restricts it */
  | { type: 'string'; nonEmpty?: boolean; pattern?: RegExp; patternHint?: string }
  /** a string rendered by the task with `ctx.render` (`{{ }}` expressions are checked at apply) */
  | { type: 'template' }
  /** an expression with or without braces (`if.condition`): its syntax is checked at apply */
  | { type: 'condition' }
  | { type: 'integer'; min?: number; max?: number }
  | { type: 'number'; min?: number; max?: number }
  | { type: 'boolean' }
  /** `30s`, `5m`...; normalized to milliseconds; `positive` refuses 0 */
  | { type: 'duration'; positive?: boolean }
  /** one of `values`; `ignoreCase` accepts any spelling and stores the canonical one */
  | { type: 'enum'; values: readonly string[]; ignoreCase?: boolean }
  /** a mapping (any values) */
  | { type: 'object' }
  /** a list (any items) */
  | { type: 'array' }
  /** a mapping of strings (numbers and booleans become strings); optional key pattern */
  | { type: 'stringMap'; keyPattern?: RegExp; keyHint?: string }
  /** an absolute http(s) URL, or a template that becomes one */
  | { type: 'url' }
  /** a non-empty list of commands, each a command line string or an argv list */
  | { type: 'commands' }
  /** an expression string or a literal list (foreach items) */
  | { type: 'listOrExpression' }
  /** any value */
  | { type: 'any' }
  /** a nested list of tasks (containers only: the runtime runs these lists itself) */
  | { type: 'tasks'; mode: ListMode };

export type PropertySpec = PropertyKind & {
  /** missing → "missing required property" (a required task list must hold at least one task) */
  required?: boolean;
  /** the value stored when the property is absent (or null); copied for every task */
  default?: unknown;
  /** the key in the normalized definition, when not the property name (`duration` → `durationMs`) */
  as?: string;
  description?: string;
};

/** A task type's properties, in the order they are checked and stored. */
export type PropertySchema = Readonly<Record<string, PropertySpec>>;

/** What the DSL validator knows of one task type (serializable). */
export interface TaskTypeSchema {
  name: string;
  properties: PropertySchema;
  /** tasks in its nested lists run once per item and may use `item` / `index` */
  loopBody?: boolean;
  /** set when this server has the type switched off: the diagnostic of a task that uses it */
  disabled?: string;
}

/** The properties that hold nested task lists, in order. */
export function childLists(schema: TaskTypeSchema): [string, PropertySpec & { type: 'tasks' }][] {
  return Object.entries(schema.properties).filter((entry): entry is [string, PropertySpec & { type: 'tasks' }] => entry[1].type === 'tasks');
}

/** The properties that hold values (everything but nested task lists), in order. */
export function valueProperties(schema: TaskTypeSchema): [string, PropertySpec][] {
  return Object.entries(schema.properties).filter(([, spec]) => spec.type !== 'tasks');
}

/** A container runs nested task lists: it cannot be retried (that would re-run finished children). */
export function isContainer(schema: TaskTypeSchema): boolean {
  return Object.values(schema.properties).some((spec) => spec.type === 'tasks');
}

const readUrl: Reader<string> = (value, path, report) => {
  const url = readNonEmptyString()(value, path, report);
  if (url === undefined) return undefined;
  // A URL built from an expression can only be checked once it is evaluated.
  if (url.includes('{{')) return url;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    report(path, `'${url}' is not an absolute URL`);
    return undefined;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    report(path, `'${url}' must use http or https`);
    return undefined;
  }
  return url;
};

const readListOrExpression: Reader<string | unknown[]> = (value, path, report) => {
  if (typeof value === 'string' || Array.isArray(value)) return value;
  report(path, 'must be an expression string or a list');
  return undefined;
};

const readList: Reader<unknown[]> = (value, path, report) => {
  if (Array.isArray(value)) return value;
  report(path, 'must be a list');
  return undefined;
};

const readCommands: Reader<string[][]> = (value, path, report) => {
  if (!Array.isArray(value) || value.length === 0) {
    report(path, 'must be a non-empty list of commands');
    return undefined;
  }
  const commands: string[][] = [];
  let ok = true;
  value.forEach((command, index) => {
    const argv = readCommand(command, [...path, index], report);
    if (argv === undefined) ok = false;
    else commands.push(argv);
  });
  return ok ? commands : undefined;
};

const readCommand: Reader<string[]> = (value, path, report) => {
  let argv: string[] | null;
  if (typeof value === 'string') {
    argv = splitCommandLine(value);
    if (argv === null) {
      report(path, 'unterminated quote in command');
      return undefined;
    }
  } else if (Array.isArray(value)) {
    if (!value.every((arg) => typeof arg === 'string')) {
      report(path, 'a command given as a list must hold only strings (its argv)');
      return undefined;
    }
    argv = value as string[];
  } else {
    report(path, 'must be a command line string or a list of arguments');
    return undefined;
  }
  if (argv.length === 0 || argv[0] === '') {
    report(path, 'empty command');
    return undefined;
  }
  return argv;
};

function rangeMessage(what: string, min: number | undefined, max: number | undefined): string {
  if (what === 'an integer' && min === 1 && max === undefined) return 'must be a positive integer';
  if (min !== undefined && max !== undefined) return `must be ${what} between ${min} and ${max}`;
  if (min !== undefined) return `must be ${what} >= ${min}`;
  if (max !== undefined) return `must be ${what} <= ${max}`;
  return `must be ${what}`;
}

function readNumber(min: number | undefined, max: number | undefined): Reader<number> {
  const message = rangeMessage('a number', min, max);
  return (value, path, report) => {
    if (typeof value === 'number' && Number.isFinite(value) && (min === undefined || value >= min) && (max === undefined || value <= max)) return value;
    report(path, message);
    return undefined;
  };
}

/** Readers by spec: a workflow has many tasks of few types (and a spec is cloned once per parse on the parser thread). */
const readers = new WeakMap<PropertySpec, Reader<unknown>>();

/** The reader that checks and converts a property of this kind (nested task lists excepted). */
export function readerFor(spec: PropertySpec): Reader<unknown> {
  let reader = readers.get(spec);
  if (reader === undefined) {
    reader = buildReader(spec);
    readers.set(spec, reader);
  }
  return reader;
}

function buildReader(spec: PropertySpec): Reader<unknown> {
  switch (spec.type) {
    case 'string':
      if (spec.pattern) return readPattern(spec.pattern, spec.patternHint ?? `must match ${spec.pattern}`);
      return spec.nonEmpty ? readNonEmptyString() : readString;
    case 'template':
      return readString;
    case 'condition':
      return readNonEmptyString();
    case 'integer':
      return readInteger(spec.min ?? Number.MIN_SAFE_INTEGER, spec.max ?? Number.MAX_SAFE_INTEGER, rangeMessage('an integer', spec.min, spec.max));
    case 'number':
      return readNumber(spec.min, spec.max);
    case 'boolean':
      return readBoolean;
    case 'duration':
      return readDuration({ positive: spec.positive });
    case 'enum':
      return readOneOf(spec.values, { ignoreCase: spec.ignoreCase });
    case 'object':
      return readMapping;
    case 'array':
      return readList;
    case 'stringMap':
      return readStringMap(spec.keyPattern ? { pattern: spec.keyPattern, description: spec.keyHint ?? `keys must match ${spec.keyPattern}` } : undefined);
    case 'url':
      return readUrl;
    case 'commands':
      return readCommands;
    case 'listOrExpression':
      return readListOrExpression;
    case 'any':
      return readAny;
    case 'tasks':
      throw new Error('nested task lists are read by the workflow validator');
  }
}

const KINDS = new Set(['string', 'template', 'condition', 'integer', 'number', 'boolean', 'duration', 'enum', 'object', 'array', 'stringMap', 'url', 'commands', 'listOrExpression', 'any', 'tasks']);

/**
 * The problems of a schema, for the registry to refuse it at startup (a typo in a plugin's schema
 * should stop the server, not surface as odd diagnostics later).
 */
export function schemaProblems(schema: TaskTypeSchema, reserved: readonly string[]): string[] {
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(schema.properties ?? {})) {
    if (reserved.includes(name)) problems.push(`property '${name}' is common to every task and cannot be redeclared`);
    if (!spec || !KINDS.has(spec.type)) problems.push(`property '${name}' has unknown type '${spec?.type}' (one of ${[...KINDS].join(', ')})`);
    else if (spec.type === 'enum' && (!Array.isArray(spec.values) || spec.values.length === 0)) problems.push(`property '${name}' is an enum without values`);
    if (spec?.required && spec.default !== undefined) problems.push(`property '${name}' is required and has a default`);
    // schemas travel to the parser thread and defaults are copied into every definition
    try {
      structuredClone(spec);
    } catch {
      problems.push(`property '${name}' holds something that is not plain data (functions, class instances): schemas are data`);
    }
  }
  return problems;
}

import { splitCommandLine } from './command-line';
import {
  readAny,
  readDuration,
  readMapping,
  readNonEmptyString,
  readOneOf,
  readPattern,
  readPositiveInteger,
  readString,
  readStringMap,
  type Reader,
} from './readers';
import { LOG_LEVELS, WORKFLOW_ID_PATTERN, type TaskDefinition, type TaskTypeName } from './types';

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

/** Properties every task accepts; the type-specific ones come from TASK_TYPE_SPECS. */
export const COMMON_TASK_PROPERTIES = ['id', 'type', 'description', 'timeout', 'retry'] as const;

type CommonKeys = 'id' | 'type' | 'description' | 'timeoutMs' | 'retry';
/** The type-specific part of a normalized task, e.g. `{message, level}` for log. */
type SpecificPart<T extends TaskTypeName> = Omit<Extract<TaskDefinition, { type: T }>, CommonKeys>;

interface FieldSpec {
  read: Reader<unknown>;
  required?: boolean;
}

/**
 * How the tasks of a nested list run: one after another (a later one can see the outputs of an
 * earlier one) or concurrently (siblings cannot see each other).
 */
export type ListMode = 'sequential' | 'concurrent';

interface ChildListSpec {
  mode: ListMode;
  /** required lists must also hold at least one task */
  required: boolean;
}

export interface TaskTypeSpec<T extends TaskTypeName = TaskTypeName> {
  fields: Record<string, FieldSpec>;
  children?: Record<string, ChildListSpec>;
  /** tasks in the child lists run once per item and may use `item` / `index` */
  loopBody?: boolean;
  /**
   * Fills defaults. `values` holds what the readers returned; absent and invalid keys are
   * undefined. With an invalid field the result is thrown away, so only the valid case matters.
   */
  build(values: Record<string, any>, children: Record<string, TaskDefinition[]>): SpecificPart<T>;
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

const readForeachItems: Reader<string | unknown[]> = (value, path, report) => {
  if (typeof value === 'string' || Array.isArray(value)) return value;
  report(path, 'must be an expression string or a list');
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

const ENV_NAME = { pattern: /^[A-Za-z_][A-Za-z0-9_]*$/, description: 'environment variable names are letters, digits and _, not starting with a digit' };

/** One entry per task type: its own properties, its nested task lists and its defaults. */
export const TASK_TYPE_SPECS: { [T in TaskTypeName]: TaskTypeSpec<T> } = {
  log: {
    fields: { message: { read: readString, required: true }, level: { read: readOneOf(LOG_LEVELS) } },
    build: (v) => ({ message: v.message, level: v.level ?? 'info' }),
  },
  sleep: {
    fields: { duration: { read: readDuration(), required: true } },
    build: (v) => ({ durationMs: v.duration }),
  },
  http: {
    fields: {
      url: { read: readUrl, required: true },
      method: { read: readOneOf(HTTP_METHODS, { ignoreCase: true }) },
      headers: { read: readStringMap() },
      body: { read: readAny },
    },
    build: (v) => ({ url: v.url, method: v.method ?? 'GET', headers: v.headers ?? {}, body: v.body ?? null }),
  },
  output: {
    fields: { values: { read: readMapping, required: true } },
    build: (v) => ({ values: v.values }),
  },
  fail: {
    fields: { message: { read: readString } },
    build: (v) => ({ message: v.message ?? 'failed by fail task' }),
  },
  parallel: {
    fields: { concurrency: { read: readPositiveInteger } },
    children: { tasks: { mode: 'concurrent', required: true } },
    build: (v, c) => ({ concurrency: v.concurrency ?? null, tasks: c.tasks }),
  },
  if: {
    fields: { condition: { read: readNonEmptyString(), required: true } },
    // then and else never both run, but each is an ordinary sequence
    children: { then: { mode: 'sequential', required: true }, else: { mode: 'sequential', required: false } },
    build: (v, c) => ({ condition: v.condition, then: c.then, else: c.else ?? [] }),
  },
  foreach: {
    fields: { items: { read: readForeachItems, required: true }, concurrency: { read: readPositiveInteger } },
    children: { tasks: { mode: 'sequential', required: true } },
    loopBody: true,
    build: (v, c) => ({ items: v.items, concurrency: v.concurrency ?? 1, tasks: c.tasks }),
  },
  subflow: {
    fields: {
      workflowId: {
        read: readPattern(WORKFLOW_ID_PATTERN, "workflow ids are 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit"),
        required: true,
      },
      inputs: { read: readMapping },
    },
    build: (v) => ({ workflowId: v.workflowId, inputs: v.inputs ?? {} }),
  },
  shell: {
    fields: { commands: { read: readCommands, required: true }, env: { read: readStringMap(ENV_NAME) } },
    build: (v) => ({ commands: v.commands, env: v.env ?? {} }),
  },
};

import type { Principal, Scope } from '../access/scopes';
import type { ExecutionService } from '../runtime/executions';
import { InvalidInputsError } from '../runtime/executions';
import { LOG_LEVELS, type ExecutionRecord, type LogLevelName, type TaskRunRecord } from '../store/execution-types';
import { ERROR_SCHEMA, objectSchema } from './schema';
import type { ToolDescriptor, ToolInvocation, ToolResult } from './types';

/** What a built-in needs; `tools` is the service itself (dry_run_tool plans another tool). */
export interface BuiltInContext {
  principal: Principal;
  executions: ExecutionService;
  tools: { plan(name: string, inputs: Record<string, unknown> | undefined, principal: Principal): Promise<ToolResult & { kind: 'dry_run' }> };
  invocation: ToolInvocation;
}

export interface BuiltInTool {
  descriptor: ToolDescriptor;
  /** listed and callable only for keys holding all of these (tools:invoke always among them) */
  scopes: readonly Scope[];
  run(args: Record<string, unknown>, context: BuiltInContext): Promise<Record<string, unknown>>;
}

const MAX_LOG_LINES = 1000;
const DEFAULT_LOG_LINES = 100;
const LEVEL_NAMES = Object.keys(LOG_LEVELS) as LogLevelName[];

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Reads the arguments of a built-in with the same INVALID_INPUTS answer as a workflow tool. */
class Arguments {
  private readonly problems: { field: string; message: string }[] = [];

  constructor(
    private readonly args: Record<string, unknown>,
    allowed: readonly string[],
  ) {
    for (const name of Object.keys(args)) {
      if (!allowed.includes(name)) this.problems.push({ field: `inputs.${name}`, message: `unknown argument; this tool takes: ${allowed.join(', ')}` });
    }
  }

  string(name: string, required: boolean): string | undefined {
    const value = this.args[name];
    if (value === undefined || value === null) {
      if (required) this.problems.push({ field: `inputs.${name}`, message: 'is required' });
      return undefined;
    }
    if (typeof value !== 'string' || value.length === 0 || value.length > 200) {
      this.problems.push({ field: `inputs.${name}`, message: 'must be a non-empty string of at most 200 characters' });
      return undefined;
    }
    return value;
  }

  integer(name: string, min: number, max: number): number | undefined {
    const value = this.args[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      this.problems.push({ field: `inputs.${name}`, message: `must be an integer from ${min} to ${max}` });
      return undefined;
    }
    return value;
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T | undefined {
    const value = this.args[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || !values.includes(value.toUpperCase() as T)) {
      this.problems.push({ field: `inputs.${name}`, message: `must be one of ${values.join(', ')}` });
      return undefined;
    }
    return value.toUpperCase() as T;
  }

  object(name: string): Record<string, unknown> | undefined {
    const value = this.args[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'object' || Array.isArray(value)) {
      this.problems.push({ field: `inputs.${name}`, message: 'must be an object' });
      return undefined;
    }
    return value as Record<string, unknown>;
  }

  /** Throws INVALID_INPUTS with every problem found. */
  check(): void {
    if (this.problems.length > 0) throw new InvalidInputsError(this.problems);
  }
}

function executionView(execution: ExecutionRecord, taskRuns?: readonly TaskRunRecord[]): Record<string, unknown> {
  return {
    executionId: execution.id,
    workflowId: execution.workflowId,
    namespace: execution.namespace,
    status: execution.state,
    outputs: execution.outputs ?? null,
    workflowOutputs: execution.workflowOutputs ?? null,
    error: execution.error,
    createdAt: iso(execution.createdAt),
    startedAt: iso(execution.startedAt),
    endedAt: iso(execution.endedAt),
    ...(taskRuns
      ? { taskRuns: taskRuns.map((run) => ({ taskId: run.taskId, taskKey: run.taskKey, attempt: run.attempt, state: run.state, startedAt: iso(run.startedAt), endedAt: iso(run.endedAt), error: run.error })) }
      : {}),
  };
}

const EXECUTION_ID = { type: 'string', description: 'the executionId a tool call answered with' };

const EXECUTION_OUTPUT = objectSchema(
  {
    executionId: { type: 'string' },
    workflowId: { type: 'string' },
    namespace: { type: 'string' },
    status: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
  },
  ['executionId', 'status'],
  true,
);

function builtIn(
  name: string,
  description: string,
  scopes: readonly Scope[],
  inputSchema: ToolDescriptor['inputSchema'],
  annotations: ToolDescriptor['annotations'],
  run: BuiltInTool['run'],
  outputSchema: ToolDescriptor['outputSchema'] = EXECUTION_OUTPUT,
): BuiltInTool {
  return {
    descriptor: { name, description, inputSchema, outputSchema, annotations, workflowId: null, namespace: null },
    scopes: ['tools:invoke', ...scopes],
    run,
  };
}

/** Built-in tools: they let an agent follow, read and stop a long run it started. */
export const BUILT_IN_TOOLS: readonly BuiltInTool[] = [
  builtIn(
    'cancel_execution',
    'Cancel an execution that is still queued or running. Answers the execution with its new status (CANCELLED, or CANCELLING while its tasks stop).',
    ['executions:write'],
    objectSchema({ executionId: EXECUTION_ID }, ['executionId']),
    { title: 'Cancel an execution', readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    async (args, { executions, principal }) => {
      const read = new Arguments(args, ['executionId']);
      const id = read.string('executionId', true);
      read.check();
      return executionView(await executions.cancel(id!, principal));
    },
  ),
  builtIn(
    'dry_run_tool',
    'Check arguments for a tool without running it: answers the coerced inputs (defaults filled) and the plan, or which arguments are wrong. Nothing is created.',
    [],
    objectSchema({ tool: { type: 'string', description: 'the name of the tool to check' }, inputs: { type: 'object', description: 'the arguments you would pass to it' } }, ['tool']),
    { title: 'Dry-run a tool', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async (args, { tools, principal }) => {
      const read = new Arguments(args, ['tool', 'inputs']);
      const tool = read.string('tool', true);
      const inputs = read.object('inputs');
      read.check();
      const result = await tools.plan(tool!, inputs, principal);
      return { status: result.status, tool: result.tool, inputs: result.inputs, plan: result.plan };
    },
    objectSchema({ status: { type: 'string', enum: ['DRY_RUN'] }, tool: { type: 'string' }, inputs: { type: 'object' }, plan: { type: 'object' } }, ['status', 'tool', 'inputs', 'plan']),
  ),
  builtIn(
    'get_execution',
    'Read an execution a tool call started: its status (QUEUED, RUNNING, SUCCESS, FAILED, CANCELLED), outputs, error and task runs. Call it again until the status is final.',
    ['executions:read'],
    objectSchema({ executionId: EXECUTION_ID }, ['executionId']),
    { title: 'Get an execution', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async (args, { executions, principal }) => {
      const read = new Arguments(args, ['executionId']);
      const id = read.string('executionId', true);
      read.check();
      const { execution, taskRuns } = await executions.get(id!, principal);
      return executionView(execution, taskRuns);
    },
  ),
  builtIn(
    'get_execution_logs',
    'Read the log lines of an execution, oldest first. Pass `after` (the last id you saw) to read only newer lines, `level` to skip lower levels.',
    ['logs:read'],
    objectSchema(
      {
        executionId: EXECUTION_ID,
        after: { type: 'integer', minimum: 0, description: 'only lines with an id greater than this' },
        limit: { type: 'integer', minimum: 1, maximum: MAX_LOG_LINES, default: DEFAULT_LOG_LINES },
        level: { type: 'string', enum: LEVEL_NAMES, description: 'minimum level' },
      },
      ['executionId'],
    ),
    { title: 'Get execution logs', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async (args, { executions, principal }) => {
      const read = new Arguments(args, ['executionId', 'after', 'limit', 'level']);
      const id = read.string('executionId', true);
      const after = read.integer('after', 0, Number.MAX_SAFE_INTEGER);
      const limit = read.integer('limit', 1, MAX_LOG_LINES) ?? DEFAULT_LOG_LINES;
      const level = read.oneOf('level', LEVEL_NAMES);
      read.check();
      // `after` pages forward from the oldest line: an agent reads a log from the start and resumes.
      const page = await executions.logs(id!, { limit, offset: 0, level, after: after ?? 0 }, principal);
      return {
        executionId: id,
        lines: [...page.items].reverse().map((line) => ({ id: line.id, ts: iso(line.ts), level: line.level, taskId: line.taskId, attempt: line.attempt, message: line.message })),
        hasMore: page.hasMore,
      };
    },
    objectSchema({ executionId: { type: 'string' }, lines: { type: 'array', items: { type: 'object' } }, hasMore: { type: 'boolean' } }, ['executionId', 'lines', 'hasMore']),
  ),
];

export { ERROR_SCHEMA };

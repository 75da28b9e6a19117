/**
 * The normalized workflow definition: what the DSL parser produces from YAML and what the
 * runtime executes. Durations are milliseconds; optional settings are explicit nulls so the
 * stored JSON is self-describing.
 */

export const INPUT_TYPES = ['string', 'number', 'integer', 'boolean', 'json', 'datetime'] as const;
export type InputType = (typeof INPUT_TYPES)[number];

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type TaskLogLevel = (typeof LOG_LEVELS)[number];

export interface InputDefinition {
  id: string;
  type: InputType;
  required: boolean;
  /** present only when the YAML declared one */
  default?: unknown;
  description: string | null;
  /** json inputs only: a JSON Schema (2020-12) the value must match; also the tool's inputSchema for it */
  schema?: Record<string, unknown>;
}

/**
 * A declared, typed output of the workflow (`outputs:`), computed from `value` (a template) when
 * the execution succeeds. A value that does not fit `type` fails the execution.
 */
export interface OutputDefinition {
  id: string;
  type: InputType;
  /** a template rendered against the finished execution (`{{ outputs.sum.total }}`) */
  value: string;
  description: string | null;
}

/** MCP tool annotations (hints for clients; never trusted for security). */
export interface ToolAnnotations {
  title?: string;
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

/** `tool:`: the workflow is offered to agents as a tool (REST /api/v1/tools and MCP). */
export interface ToolSettings {
  /** `^[A-Za-z0-9_-]{1,64}$`, unique across workflows; default: the workflow id */
  name: string;
  title: string | null;
  /** the tool's own description, or the workflow's */
  description: string;
  annotations: ToolAnnotations;
  /** how long an invocation waits before answering "still running"; default 30 s, max 5 min */
  waitMs: number;
}

export const TOOL_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const DEFAULT_TOOL_WAIT_MS = 30_000;
export const MAX_TOOL_WAIT_MS = 300_000;

export type RetryPolicy = {
  maxAttempts: number;
  delayMs: number;
  backoff: 'constant' | 'exponential';
  maxDelayMs: number | null;
};

// a type alias, not an interface: the built-in task aliases below must fit TaskDefinition's index signature
export type TaskCommon = {
  id: string;
  description: string | null;
  timeoutMs: number | null;
  retry: RetryPolicy | null;
};

/**
 * A task of any type: the common properties plus the type's own, as its property schema
 * normalized them (see tasks/task-type.ts). Task types are open: the engine's TaskTypeRegistry
 * says which exist. The aliases below describe the built-in ones.
 */
export type TaskDefinition = TaskCommon & { type: string } & Record<string, unknown>;

export type LogTask = TaskCommon & {
  type: 'log';
  message: string;
  level: TaskLogLevel;
};
export type SleepTask = TaskCommon & {
  type: 'sleep';
  durationMs: number;
};
export type HttpTask = TaskCommon & {
  type: 'http';
  url: string;
  method: string;
  headers: Record<string, string>;
  /** JSON value or text; strings may hold expressions */
  body: unknown;
};
export type OutputTask = TaskCommon & {
  type: 'output';
  values: Record<string, unknown>;
};
export type FailTask = TaskCommon & {
  type: 'fail';
  message: string;
};
export type ParallelTask = TaskCommon & {
  type: 'parallel';
  /** null = all children at once */
  concurrency: number | null;
  tasks: TaskDefinition[];
};
export type IfTask = TaskCommon & {
  type: 'if';
  condition: string;
  then: TaskDefinition[];
  else: TaskDefinition[];
};
export type ForeachTask = TaskCommon & {
  type: 'foreach';
  /** an expression string or a literal list */
  items: string | unknown[];
  concurrency: number;
  tasks: TaskDefinition[];
};
export type SubflowTask = TaskCommon & {
  type: 'subflow';
  workflowId: string;
  inputs: Record<string, unknown>;
};
export type ShellTask = TaskCommon & {
  type: 'shell';
  /** one argv per command; no shell is involved */
  commands: string[][];
  env: Record<string, string>;
};

export interface ScheduleTrigger {
  id: string;
  type: 'schedule';
  cron: string;
  timezone: string;
  inputs: Record<string, unknown>;
}
export type TriggerDefinition = ScheduleTrigger;

export interface WorkflowDefinition {
  id: string;
  namespace: string;
  description: string | null;
  labels: Record<string, string>;
  inputs: InputDefinition[];
  variables: Record<string, unknown>;
  timeoutMs: number | null;
  concurrency: { limit: number } | null;
  tasks: TaskDefinition[];
  errors: TaskDefinition[];
  triggers: TriggerDefinition[];
  /** declared outputs; absent in revisions stored before outputs existed (read as []) */
  outputs?: OutputDefinition[];
  /** present = this workflow is a tool; absent or null = not a tool */
  tool?: ToolSettings | null;
}

/** One problem found in a workflow; `line` is 1-based in the YAML source when known. */
export interface Diagnostic {
  path: string;
  message: string;
  line?: number;
}

export const WORKFLOW_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

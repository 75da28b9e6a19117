import type { ToolAnnotations } from '../dsl/types';
import type { ExecutionError } from '../store/execution-types';
import type { ExecutionState } from '../execution-state';

/**
 * The tool surface (issue 8, docs/tools.md): one catalogue and one invocation path, shared by
 * REST (`/api/v1/tools`) and MCP (`POST /mcp`, `autokestra mcp`). Framework-free.
 */

/** A JSON Schema 2020-12 object schema (root `type: object`, no top-level anyOf/oneOf). */
export type JsonSchemaObject = { type: 'object' } & Record<string, unknown>;

export type ToolTransport = 'rest' | 'mcp' | 'stdio';

export interface ToolDescriptor {
  name: string;
  title?: string;
  description: string;
  inputSchema: JsonSchemaObject;
  /** present when the workflow declares `outputs:` (built-ins always have one) */
  outputSchema?: JsonSchemaObject;
  annotations: ToolAnnotations;
  /** null for built-in tools */
  workflowId: string | null;
  namespace: string | null;
}

export interface ToolProgress {
  /** tasks finished so far */
  progress: number;
  /** tasks of the workflow, when known */
  total?: number;
  message?: string;
}

export interface ToolInvocation {
  inputs?: Record<string, unknown>;
  /** validate and plan only: nothing is created or run */
  dryRun?: boolean;
  /** how long to wait, in ms; never longer than the tool's own `wait` */
  waitMs?: number;
  idempotencyKey?: string;
  transport: ToolTransport;
  /** who the client says it is: User-Agent, or MCP clientInfo `name/version` (audited) */
  client: string | null;
  /** called while waiting, each time a task finishes (MCP progress notifications) */
  onProgress?: (progress: ToolProgress) => void;
  /** ends the wait early (client disconnected); the execution keeps running */
  signal?: AbortSignal;
}

export interface DryRunPlan {
  workflowId: string;
  namespace: string;
  revision: number;
  /** the top-level tasks in order, with their types (what would run) */
  tasks: { id: string; type: string }[];
  /** the wait the invocation would use, in ms */
  waitMs: number;
}

/** What an invocation answers. */
export type ToolResult =
  | {
      kind: 'execution';
      executionId: string;
      status: ExecutionState;
      /** terminal within the wait */
      finished: boolean;
      /** the declared outputs when the workflow declares any, else taskId → task outputs */
      outputs: Record<string, unknown> | null;
      error: ExecutionError | null;
      durationMs: number;
    }
  | { kind: 'dry_run'; status: 'DRY_RUN'; tool: string; inputs: Record<string, unknown>; plan: DryRunPlan }
  /** a built-in tool's answer (get_execution, get_execution_logs, cancel_execution, dry_run_tool) */
  | { kind: 'value'; isError: boolean; value: Record<string, unknown> };

/** An idempotency key, wherever it comes from (header, MCP _meta): visible ASCII, as Stripe and the IETF draft allow. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

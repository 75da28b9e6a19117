import type { WorkflowDefinition } from '../dsl/types';
import type { SqlExecutionStore } from './sql-execution-store';
import type { SqlAccessStore } from './sql-access-store';

/** The runtime's persistence (executions, the queue, task runs, logs, schedules, recovery, retention): one SQL implementation for both dialects. */
export type ExecutionStore = { [K in keyof SqlExecutionStore]: SqlExecutionStore[K] };
/** Managed API keys and the audit trail. */
export type AccessStore = { [K in keyof SqlAccessStore]: SqlAccessStore[K] };

/** Timestamps are epoch milliseconds inside the engine; the API renders ISO-8601. */
export interface WorkflowSummary {
  id: string;
  namespace: string;
  description: string | null;
  enabled: boolean;
  revision: number;
  createdAt: number;
  updatedAt: number;
}

export interface WorkflowRecord extends WorkflowSummary {
  source: string;
  definition: WorkflowDefinition;
  /** `definition` as stored (JSON), when at hand: a response can embed it instead of re-encoding */
  definitionJson?: string;
}

export interface WorkflowListQuery {
  limit: number;
  offset: number;
  namespace?: string;
  enabled?: boolean;
  /** namespace allow-list of the caller (globs already expanded to SQL by the store) */
  namespaces?: readonly string[];
}

/** A workflow that is a tool: its summary and the current revision's tool name. */
export interface ToolWorkflow extends WorkflowSummary {
  toolName: string;
}

export interface ToolWorkflowQuery {
  limit: number;
  offset: number;
  namespace?: string;
  namespaces?: readonly string[];
}

export interface Page<T> {
  items: T[];
  hasMore: boolean;
}

export interface ApplyWorkflowCommand {
  id: string;
  namespace: string;
  description: string | null;
  source: string;
  definition: WorkflowDefinition;
  /** `definition` already encoded (by the parser thread): then `definition` is not read, */
  definitionJson?: string;
  /** ... but these are (default: definition.triggers) */
  triggers?: WorkflowDefinition['triggers'];
  /** workflows.tool_name (default: definition.tool?.name); null: not a tool */
  toolName?: string | null;
  now: number;
}

/**
 * An apply whose tool name another workflow holds (the unique index said so, which also settles
 * two applies racing for one name). `holder` is that workflow, when it still exists.
 */
export class ToolNameConflictError extends Error {
  constructor(
    readonly toolName: string,
    readonly holder: { id: string; namespace: string } | null,
  ) {
    super(`tool name '${toolName}' is already used by another workflow`);
  }
}

/**
 * Everything the engine persists. One implementation (SqlStateStore) serves SQLite and
 * PostgreSQL; nothing here may assume a single process.
 */
export interface StateStore {
  readonly dialect: 'sqlite' | 'postgresql';
  readonly executions: ExecutionStore;
  readonly access: AccessStore;
  ping(): Promise<void>;
  close(): Promise<void>;

  listWorkflows(query: WorkflowListQuery): Promise<Page<WorkflowSummary>>;
  getWorkflow(id: string): Promise<WorkflowRecord | null>;
  /** the summary only (no source, no definition): cheap, for hot paths that cache definitions */
  getWorkflowSummary(id: string): Promise<WorkflowSummary | null>;
  getWorkflowRevision(id: string, revision: number): Promise<WorkflowRecord | null>;
  /** creates or bumps the revision atomically; `created` tells which */
  applyWorkflow(command: ApplyWorkflowCommand): Promise<{ workflow: WorkflowRecord; created: boolean }>;
  /** enabled workflows whose current revision is a tool, ordered by tool name */
  listToolWorkflows(query: ToolWorkflowQuery): Promise<Page<ToolWorkflow>>;
  getToolWorkflow(toolName: string): Promise<ToolWorkflow | null>;
  setWorkflowEnabled(id: string, enabled: boolean, now: number): Promise<WorkflowRecord | null>;
  deleteWorkflow(id: string): Promise<boolean>;
}

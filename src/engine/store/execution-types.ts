/** Persisted shapes of the runtime (epoch milliseconds; JSON columns already parsed). */

import type { ExecutionState, TaskRunState } from '../execution-state';

export interface ExecutionError {
  message: string;
  taskId: string | null;
  /** TIMEOUT, CANCELLED, TASK_FAILED, SSRF_DENIED, ... */
  kind?: string;
}

export interface ExecutionTrigger {
  type: 'api' | 'cli' | 'schedule' | 'subflow' | 'tool';
  /** schedule trigger id, or parent execution id for subflows */
  id?: string;
  /** type tool: the tool's name and the face it was called through */
  tool?: string;
  transport?: 'rest' | 'mcp' | 'stdio';
  scheduledAt?: string;
  parentTaskRunId?: string;
}

export interface NewExecution {
  id: string;
  workflowId: string;
  namespace: string;
  revision: number;
  inputs: Record<string, unknown>;
  labels: Record<string, string>;
  trigger: ExecutionTrigger;
  createdAt: number;
  concurrencyLimit: number | null;
  timeoutMs: number | null;
  parentExecutionId: string | null;
  depth: number;
  idempotencyKey: string | null;
  idempotencyHash: string | null;
}

/** A stored execution: what was inserted, plus its state machine and the owner's claim. */
export interface ExecutionRecord extends NewExecution {
  state: ExecutionState;
  /** taskId → that task's outputs */
  outputs: Record<string, unknown> | null;
  /** the values of the workflow's declared `outputs:` (outputId → value); null unless it succeeded with outputs declared */
  workflowOutputs: Record<string, unknown> | null;
  error: ExecutionError | null;
  history: { state: ExecutionState; at: number }[];
  startedAt: number | null;
  endedAt: number | null;
  owner: string | null;
  leaseExpiresAt: number | null;
  /**
   * incremented by every claim: the fencing token of the current owner (the `attempt` column;
   * not a task's retry number, which is TaskRunRecord.attempt)
   */
  claim: number;
  cancelRequested: boolean;
  /** recoveries from a dead owner since the last progress (see runtime/crash-loop.ts) */
  crashRecoveries: number;
}


export interface TaskRunRecord {
  id: string;
  executionId: string;
  taskId: string;
  /** the task's position: its id plus the foreach iteration path (`one@2.0`) */
  taskKey: string;
  parentTaskRunId: string | null;
  iteration: number | null;
  attempt: number;
  state: TaskRunState;
  startedAt: number;
  endedAt: number | null;
  outputs: unknown;
  error: ExecutionError | null;
}

/** The claim of the current owner; every runtime write is conditional on it. */
export interface Fence {
  executionId: string;
  owner: string;
  /** the claim number the owner got (ExecutionRecord.claim) */
  claim: number;
}

export interface ExecutionListQuery {
  limit: number;
  offset: number;
  workflowId?: string;
  namespace?: string;
  state?: ExecutionState;
  namespaces?: readonly string[];
}

export const LOG_LEVELS = { DEBUG: 10, INFO: 20, WARN: 30, ERROR: 40 } as const;
export type LogLevelName = keyof typeof LOG_LEVELS;

export interface NewLogLine {
  executionId: string;
  taskId: string | null;
  taskRunId: string | null;
  attempt: number | null;
  level: LogLevelName;
  ts: number;
  message: string;
}

export interface LogLine extends NewLogLine {
  id: number;
}

export interface LogQuery {
  executionId: string;
  limit: number;
  offset: number;
  minLevel?: LogLevelName;
  taskId?: string;
  before?: number;
  after?: number;
}

export interface ScheduleTriggerRow {
  workflowId: string;
  triggerId: string;
  cron: string;
  timezone: string;
  inputs: Record<string, unknown>;
}

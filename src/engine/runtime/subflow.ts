import { CONSTRUCT_SCHEMAS } from '../dsl/constructs';
import type { SubflowTask } from '../dsl/types';
import type { ExecutionRecord } from '../store/execution-types';
import { TaskFailure, type TaskType } from '../tasks/task-type';

export const MAX_SUBFLOW_DEPTH = 10;

export interface SubflowLauncher {
  /** idempotent per `idempotencyKey`: a resumed parent finds the child it started before */
  start(parent: ExecutionRecord, task: SubflowTask, inputs: Record<string, unknown>, idempotencyKey: string): Promise<string>;
  /** resolves with the child's terminal record; on abort, cancels the child and rejects */
  waitForEnd(childId: string, signal: AbortSignal): Promise<ExecutionRecord>;
}

/**
 * The subflow task needs the engine (to start and await another execution), so the runner
 * builds it per task. The child is keyed by the parent task position and retry number: a
 * resumed parent finds the child it started; a retry after a failure starts a fresh one.
 */
export function subflowTaskType(launcher: SubflowLauncher, execution: ExecutionRecord, taskKey: string, failures: number): TaskType<SubflowTask> {
  return {
    name: 'subflow',
    properties: CONSTRUCT_SCHEMAS.subflow.properties,
    run: async (subflow, ctx) => {
      if (execution.depth + 1 > MAX_SUBFLOW_DEPTH) {
        throw new TaskFailure(`subflow nesting deeper than ${MAX_SUBFLOW_DEPTH} levels (a workflow calling itself?)`, 'SUBFLOW_DEPTH');
      }
      const inputs = ctx.render(subflow.inputs) as Record<string, unknown>;
      const childId = await launcher.start(execution, subflow, inputs, `subflow:${execution.id}:${taskKey}:${failures}`);
      ctx.log('info', `subflow ${subflow.workflowId}: execution ${childId}`);
      const child = await launcher.waitForEnd(childId, ctx.signal);
      if (child.state !== 'SUCCESS') {
        throw new TaskFailure(`subflow ${subflow.workflowId} execution ${childId} ended ${child.state}${child.error ? `: ${child.error.message}` : ''}`, 'SUBFLOW_FAILED');
      }
      return { executionId: childId, state: child.state, outputs: child.outputs ?? {} };
    },
  };
}

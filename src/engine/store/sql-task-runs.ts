import { fromJson, toJson, toMillis, toMillisOrNull, type SqlClient, type SqlStatement } from './sql-client';
import { FENCE_SQL, fenceParams } from './sql-executions';
import { logStatements } from './sql-logs';
import { resetCrashCountStatement } from './sql-recovery';
import type { ExecutionError, Fence, NewLogLine, TaskRunRecord } from './execution-types';
import type { TaskRunState } from '../execution-state';

type Row = Record<string, unknown>;

export interface ProgressOptions {
  /** the write records progress of an execution recovered since its last progress: reset its crash count */
  resetCrashCount?: boolean;
}

function toTaskRun(row: Row): TaskRunRecord {
  return {
    id: row.id as string,
    executionId: row.execution_id as string,
    taskId: row.task_id as string,
    taskKey: row.task_key as string,
    parentTaskRunId: (row.parent_task_run_id as string | null) ?? null,
    iteration: row.iteration === null ? null : Number(row.iteration),
    attempt: Number(row.attempt),
    state: row.state as TaskRunState,
    startedAt: toMillis(row.started_at),
    endedAt: toMillisOrNull(row.ended_at),
    outputs: row.outputs === null ? null : fromJson(row.outputs),
    error: row.error === null ? null : fromJson(row.error),
  };
}

/**
 * Task runs, one row per attempt of a task. Only the execution's owner writes them: every write
 * is fenced on the execution (FENCE_SQL) and commits with the log lines buffered so far.
 */
export class SqlTaskRuns {
  constructor(private readonly db: SqlClient) {}

  /**
   * Writes a task run, and the log lines buffered so far, atomically: one commit instead of
   * two, and a finished task's lines are durable with its state. False when fenced out.
   */
  async insertTaskRun(fence: Fence, run: TaskRunRecord, lines: readonly NewLogLine[] = [], options: ProgressOptions = {}): Promise<boolean> {
    return this.writeWithLines(fence, lines, options, {
      sql: `insert into task_runs (id, execution_id, task_id, task_key, parent_task_run_id, iteration, attempt, state, started_at, ended_at, outputs, error, worker)
       select ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? where ${FENCE_SQL}`,
      params: [
        run.id,
        run.executionId,
        run.taskId,
        run.taskKey,
        run.parentTaskRunId,
        run.iteration,
        run.attempt,
        run.state,
        run.startedAt,
        run.endedAt,
        run.outputs === null || run.outputs === undefined ? null : toJson(run.outputs),
        run.error === null ? null : toJson(run.error),
        fence.owner,
        ...fenceParams(fence),
      ],
    });
  }

  async updateTaskRun(
    fence: Fence,
    id: string,
    patch: { state: TaskRunState; endedAt?: number | null; outputs?: unknown; error?: ExecutionError | null },
    lines: readonly NewLogLine[] = [],
    options: ProgressOptions = {},
  ): Promise<boolean> {
    return this.writeWithLines(fence, lines, options, {
      sql: `update task_runs set state = ?, ended_at = ?, outputs = ?, error = ? where id = ? and ${FENCE_SQL}`,
      params: [
        patch.state,
        patch.endedAt ?? null,
        patch.outputs === undefined || patch.outputs === null ? null : toJson(patch.outputs),
        patch.error ? toJson(patch.error) : null,
        id,
        ...fenceParams(fence),
      ],
    });
  }

  async listTaskRuns(executionId: string): Promise<TaskRunRecord[]> {
    const rows = await this.db.all<Row>('select * from task_runs where execution_id = ? order by id', [executionId]);
    return rows.map(toTaskRun);
  }

  /** The lines, the crash-count reset when asked, then `write` (last: its count says whether the fence held), in one commit. */
  private async writeWithLines(fence: Fence, lines: readonly NewLogLine[], options: ProgressOptions, write: SqlStatement): Promise<boolean> {
    const reset = options.resetCrashCount ? [resetCrashCountStatement(fence)] : [];
    const changes = await this.db.writeBatch([...logStatements(lines), ...reset, write]);
    return changes[changes.length - 1] > 0;
  }
}

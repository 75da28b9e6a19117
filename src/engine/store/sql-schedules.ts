import { fromJson, type SqlClient } from './sql-client';
import { SqlExecutions } from './sql-executions';
import type { ExecutionRecord, NewExecution, ScheduleTriggerRow } from './execution-types';

type Row = Record<string, unknown>;

/** Schedule triggers (the small index `applyWorkflow` keeps) and the ticks that fired. */
export class SqlSchedules {
  constructor(private readonly db: SqlClient) {}

  async listScheduleTriggers(): Promise<ScheduleTriggerRow[]> {
    const rows = await this.db.all<Row>(
      `select t.workflow_id, t.trigger_id, t.cron, t.timezone, t.inputs from workflow_triggers t
         join workflows w on w.id = t.workflow_id where w.enabled = 1`,
    );
    return rows.map((r) => ({
      workflowId: r.workflow_id as string,
      triggerId: r.trigger_id as string,
      cron: r.cron as string,
      timezone: r.timezone as string,
      inputs: fromJson(r.inputs),
    }));
  }

  /**
   * Records a schedule tick and creates its execution in one transaction; the primary key on
   * (workflow, trigger, tick) makes every tick fire once however many processes see it. The
   * workflow must still be enabled at that moment.
   */
  async fireSchedule(workflowId: string, triggerId: string, fireAt: number, execution: NewExecution): Promise<ExecutionRecord | null> {
    return this.db.transaction(async (tx) => {
      const inserted = await tx.run(
        `insert into schedule_fires (workflow_id, trigger_id, fire_at, execution_id)
         select ?, ?, ?, ? where exists (select 1 from workflows where id = ? and enabled = 1) on conflict do nothing`,
        [workflowId, triggerId, fireAt, execution.id, workflowId],
      );
      if (inserted === 0) return null;
      return (await new SqlExecutions(tx).insertExecution(execution)).execution;
    });
  }
}

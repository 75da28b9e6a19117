import { Migration } from '@mikro-orm/migrations';

/**
 * Tools and declared outputs (issue 8).
 * - `workflows.tool_name`: the current revision's tool name (null: not a tool). Unique, so two
 *   workflows can never claim one name even when applied at the same moment on two replicas;
 *   listing tools reads this index instead of decoding every definition.
 * - `executions.workflow_outputs`: the values of the workflow's declared `outputs:`, computed
 *   when the execution succeeds (JSON; null when none are declared or it did not succeed).
 */
export class Migration20261203000001Tools extends Migration {
  override up(): void {
    this.addSql('alter table workflows add column tool_name text null');
    this.addSql('create unique index workflows_tool_name_unique on workflows (tool_name)');
    this.addSql('alter table executions add column workflow_outputs text null');
  }

  override down(): void {
    this.addSql('drop index workflows_tool_name_unique');
    this.addSql('alter table workflows drop column tool_name');
    this.addSql('alter table executions drop column workflow_outputs');
  }
}

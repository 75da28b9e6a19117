import { Migration } from '@mikro-orm/migrations';

/**
 * Executions, task runs, logs, schedule fires and trigger index. Portable SQL except the
 * auto-increment log id (SQLite `integer primary key`, PostgreSQL `bigserial`).
 */
export class Migration20261122000002Executions extends Migration {
  override up(): void {
    const postgres = this.driver.getPlatform().constructor.name.toLowerCase().includes('postgre');
    this.addSql(`create table executions (
      id text primary key,
      workflow_id text not null,
      namespace text not null,
      revision integer not null,
      state text not null,
      inputs text not null,
      labels text not null,
      trigger text not null,
      outputs text null,
      error text null,
      history text not null,
      created_at bigint not null,
      started_at bigint null,
      ended_at bigint null,
      owner text null,
      lease_expires_at bigint null,
      attempt integer not null default 0,
      cancel_requested integer not null default 0,
      concurrency_limit integer null,
      timeout_ms bigint null,
      parent_execution_id text null,
      depth integer not null default 0,
      idempotency_key text null,
      idempotency_hash text null
    )`);
    // Claiming scans QUEUED oldest first; ids are ULIDs, so id order is creation order.
    this.addSql('create index executions_state_idx on executions (state, id)');
    this.addSql('create index executions_workflow_idx on executions (workflow_id, id)');
    // the claim counts RUNNING executions per workflow for concurrency limits
    this.addSql('create index executions_workflow_state_idx on executions (workflow_id, state)');
    this.addSql('create index executions_namespace_idx on executions (namespace, id)');
    // No index on owner or ended_at: every state change would have to maintain them. Owner
    // lookups go through the (small) set of active states; retention uses the ULID key.
    this.addSql(
      'create unique index executions_idempotency_idx on executions (workflow_id, idempotency_key) where idempotency_key is not null',
    );

    this.addSql(`create table task_runs (
      id text primary key,
      execution_id text not null,
      task_id text not null,
      task_key text not null,
      parent_task_run_id text null,
      iteration integer null,
      attempt integer not null,
      state text not null,
      started_at bigint not null,
      ended_at bigint null,
      outputs text null,
      error text null
    )`);
    this.addSql('create unique index task_runs_key_idx on task_runs (execution_id, task_key, attempt)');

    this.addSql(`create table logs (
      id ${postgres ? 'bigserial primary key' : 'integer primary key'},
      execution_id text not null,
      task_id text null,
      task_run_id text null,
      attempt integer null,
      level integer not null,
      ts bigint not null,
      message text not null
    )`);
    this.addSql('create index logs_execution_idx on logs (execution_id, id)');

    this.addSql(`create table schedule_fires (
      workflow_id text not null,
      trigger_id text not null,
      fire_at bigint not null,
      execution_id text not null,
      primary key (workflow_id, trigger_id, fire_at)
    )`);

    this.addSql(`create table workflow_triggers (
      workflow_id text not null,
      trigger_id text not null,
      cron text not null,
      timezone text not null,
      inputs text not null,
      primary key (workflow_id, trigger_id)
    )`);
  }

  override down(): void {
    for (const table of ['workflow_triggers', 'schedule_fires', 'logs', 'task_runs', 'executions']) this.addSql(`drop table ${table}`);
  }
}

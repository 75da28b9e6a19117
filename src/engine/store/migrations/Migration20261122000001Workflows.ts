import { Migration } from '@mikro-orm/migrations';

/**
 * Workflows and their revisions. The SQL is portable between SQLite and PostgreSQL on purpose
 * (TEXT, BIGINT epoch milliseconds, INTEGER flags) so that switching the driver needs no new
 * migration set.
 */
export class Migration20261122000001Workflows extends Migration {
  override up(): void {
    this.addSql(`create table workflows (
      id text primary key,
      namespace text not null,
      description text null,
      enabled integer not null default 1,
      revision integer not null,
      source text not null,
      definition text not null,
      created_at bigint not null,
      updated_at bigint not null
    )`);
    this.addSql('create index workflows_namespace_idx on workflows (namespace, id)');
    // Revisions outlive a deleted workflow: executions pin them, and re-creating the workflow
    // continues the numbering so a pinned revision is never ambiguous.
    this.addSql(`create table workflow_revisions (
      workflow_id text not null,
      revision integer not null,
      namespace text not null,
      source text not null,
      definition text not null,
      created_at bigint not null,
      primary key (workflow_id, revision)
    )`);
  }

  override down(): void {
    this.addSql('drop table workflow_revisions');
    this.addSql('drop table workflows');
  }
}

import { Migration } from '@mikro-orm/migrations';

/**
 * Poison-pill protection: how many times an execution was recovered from a dead owner since its
 * last progress, and (for executions already recovered) the task it was running last. Portable
 * SQL: `add column` with a constant default works the same on SQLite and PostgreSQL.
 */
export class Migration20261123000001CrashRecoveries extends Migration {
  override up(): void {
    this.addSql('alter table executions add column crash_recoveries integer not null default 0');
    this.addSql('alter table executions add column crash_site text null');
  }

  override down(): void {
    this.addSql('alter table executions drop column crash_site');
    this.addSql('alter table executions drop column crash_recoveries');
  }
}

import { Migration } from '@mikro-orm/migrations';

/**
 * Which engine instance (worker-pool owner id, `host/pid/nonce`) wrote each task run. With
 * several replicas on one database this is how an operator (and the replica tests) see where
 * a task ran; the execution's own `owner` is cleared when it ends. Nullable: older rows have none.
 */
export class Migration20261202000001TaskRunWorker extends Migration {
  override up(): void {
    this.addSql('alter table task_runs add column worker text null');
  }

  override down(): void {
    this.addSql('alter table task_runs drop column worker');
  }
}

import { Migration } from '@mikro-orm/migrations';

/**
 * A managed key's own request budget (`{"requests":100,"windowSeconds":60}` as JSON text, null =
 * not limited). Read with the key on authentication, so the guard needs no extra query.
 * `alter table … add column` with a nullable column is the same SQL on SQLite and PostgreSQL.
 */
export class Migration20261201000004ApiKeyRateLimit extends Migration {
  override up(): void {
    this.addSql('alter table api_keys add column rate_limit text null');
  }

  override down(): void {
    this.addSql('alter table api_keys drop column rate_limit');
  }
}

import { Migration } from '@mikro-orm/migrations';

/** Managed API keys (only SHA-256 hashes) and the audit trail. */
export class Migration20261122000003Access extends Migration {
  override up(): void {
    this.addSql(`create table api_keys (
      id text primary key,
      prefix text not null,
      key_hash text not null,
      previous_key_hash text null,
      previous_prefix text null,
      previous_valid_until bigint null,
      label text null,
      scopes text not null,
      namespaces text null,
      expires_at bigint null,
      enabled integer not null default 1,
      created_at bigint not null,
      updated_at bigint not null,
      last_used_at bigint null,
      last_used_ip text null,
      revoked_at bigint null
    )`);
    this.addSql('create unique index api_keys_hash_idx on api_keys (key_hash)');
    this.addSql('create index api_keys_previous_hash_idx on api_keys (previous_key_hash)');
    this.addSql('create unique index api_keys_label_idx on api_keys (label) where label is not null and revoked_at is null');

    this.addSql(`create table audit_events (
      id text primary key,
      at bigint not null,
      actor text not null,
      action text not null,
      resource_type text null,
      resource_id text null,
      namespace text null,
      outcome text not null,
      ip text null,
      details text null
    )`);
    this.addSql('create index audit_events_action_idx on audit_events (action, id)');
    this.addSql('create index audit_events_actor_idx on audit_events (actor, id)');
  }

  override down(): void {
    this.addSql('drop table audit_events');
    this.addSql('drop table api_keys');
  }
}

import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261122000001Workflows } from './Migration20261122000001Workflows';
import { Migration20261122000002Executions } from './Migration20261122000002Executions';
import { Migration20261122000003Access } from './Migration20261122000003Access';
import { Migration20261123000001CrashRecoveries } from './Migration20261123000001CrashRecoveries';
import { Migration20261201000004ApiKeyRateLimit } from './Migration20261201000004ApiKeyRateLimit';
import { Migration20261202000001TaskRunWorker } from './Migration20261202000001TaskRunWorker';
import { Migration20261203000001Tools } from './Migration20261203000001Tools';

/** Explicit list (no glob discovery): works the same from src/ under vitest and from dist/. */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261122000001Workflows', class: Migration20261122000001Workflows },
  { name: 'Migration20261122000002Executions', class: Migration20261122000002Executions },
  { name: 'Migration20261122000003Access', class: Migration20261122000003Access },
  { name: 'Migration20261123000001CrashRecoveries', class: Migration20261123000001CrashRecoveries },
  { name: 'Migration20261201000004ApiKeyRateLimit', class: Migration20261201000004ApiKeyRateLimit },
  { name: 'Migration20261202000001TaskRunWorker', class: Migration20261202000001TaskRunWorker },
  { name: 'Migration20261203000001Tools', class: Migration20261203000001Tools },
];

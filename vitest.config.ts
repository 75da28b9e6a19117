import { fileURLToPath } from 'node:url';
import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

/**
 * The suites about the engine and the store, run a second time on PostgreSQL (issue 9).
 * Their direct reads/writes of the store go through test/e2e/access-helpers.ts (SQLite or PostgreSQL);
 * suites that open the SQLite file themselves stay SQLite-only; the pg-* files are PG-only.
 */
const PG_LEG_FILES = [
  'test/e2e/executions.e2e.spec.ts',
  'test/e2e/tasks.e2e.spec.ts',
  'test/e2e/logs.e2e.spec.ts',
  'test/e2e/logs-stream.e2e.spec.ts',
  'test/e2e/cancel.e2e.spec.ts',
  'test/e2e/schedules.e2e.spec.ts',
  'test/e2e/recovery.e2e.spec.ts',
  'test/e2e/api-keys.e2e.spec.ts',
  'test/e2e/api-keys-cli.e2e.spec.ts',
  'test/e2e/audit.e2e.spec.ts',
  'test/e2e/task-type-plugins.e2e.spec.ts',
];
const PG_ONLY_FILES = ['test/e2e/pg-*.e2e.spec.ts'];

// SWC keeps decorator metadata, which Nest's dependency injection needs (esbuild drops it).
export default defineConfig({
  plugins: [swc.vite({ module: { type: 'es6' } })],
  // examples/ import the package by name, as a team's code does: the source of its public surface
  resolve: { alias: { autokestra: fileURLToPath(new URL('./src/index.ts', import.meta.url)) } },
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: { name: 'sqlite', include: ['test/**/*.spec.ts'], exclude: PG_ONLY_FILES },
      },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: [...PG_LEG_FILES, ...PG_ONLY_FILES],
          env: { AUTOKESTRA_TEST_DATABASE: 'postgres' },
          // fails the leg with a clear message when PostgreSQL is unreachable (never skips)
          globalSetup: ['test/support/pg-global-setup.ts'],
          setupFiles: ['test/support/pg-leg-setup.ts'],
        },
      },
    ],
  },
});

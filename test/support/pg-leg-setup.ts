import { afterAll } from 'vitest';
import { dropLegDatabases } from './postgres';

// setupFiles run once per test file: every database the file's servers created goes with it.
afterAll(async () => {
  await dropLegDatabases();
});

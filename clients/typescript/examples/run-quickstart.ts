/**
 * Runs the quickstart against a server:
 *   AUTOKESTRA_URL=http://127.0.0.1:8080 AUTOKESTRA_API_KEY=<an admin key> npx tsx clients/typescript/examples/run-quickstart.ts
 */
import { main } from './quickstart';

const baseUrl = process.env.AUTOKESTRA_URL ?? 'http://127.0.0.1:8080';
const apiKey = process.env.AUTOKESTRA_API_KEY;
if (!apiKey) {
  console.error('set AUTOKESTRA_API_KEY to a key with the admin scope (and AUTOKESTRA_URL to the server)');
  process.exit(2);
}
main(baseUrl, apiKey).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

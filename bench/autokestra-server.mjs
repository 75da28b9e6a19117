// Autokestra itself, production settings (logging at info to a file), on the database in AUTOKESTRA_DATABASE_URL.
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { loadConfig } = require('../dist/common/config/load-config.js');
const { startServer } = require('../dist/server.js');

const config = loadConfig({ env: process.env });
config.server.port = 0;
config.server.host = '127.0.0.1';
if (process.env.BENCH_WORKERS) config.engine.workers = Number(process.env.BENCH_WORKERS);
if (process.env.BENCH_POLL_MS) config.engine.pollIntervalMs = Number(process.env.BENCH_POLL_MS);
const server = await startServer(config, { logDestination: process.env.BENCH_LOG ?? '/dev/null' });
process.send({ url: server.url });
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));

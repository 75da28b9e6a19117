// The baseline: a bare Fastify server answering the same JSON from memory.
// BENCH_ROUTES: {"<path>": <body>, ...}, each path served as it is (no parameters).
import Fastify from 'fastify';

const routes = JSON.parse(process.env.BENCH_ROUTES);
const app = Fastify();
for (const [path, body] of Object.entries(routes)) app.get(path, async () => body);
await app.listen({ port: 0, host: '127.0.0.1' });
process.send({ url: `http://127.0.0.1:${app.server.address().port}`, pid: process.pid });
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));

// The baseline: a bare Fastify server answering the same JSON from memory.
import Fastify from 'fastify';

const body = JSON.parse(process.env.BENCH_BODY);
const app = Fastify();
app.get('/api/v1/workflows/:id', async () => body);
await app.listen({ port: 0, host: '127.0.0.1' });
process.send({ url: `http://127.0.0.1:${app.server.address().port}` });
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server';
import { expectError } from './helpers';
import { apply } from './engine-helpers';

describe('hostile JSON bodies', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
    await apply(server, 'deep-in', ['id: deep-in', 'inputs: [{id: j, type: json}]', 'tasks: [{id: a, type: output, values: {x: "{{ inputs.j }}"}}]', ''].join('\n'));
  });
  afterAll(() => server.close());

  it('rejects a body nested deeper than 64 levels with 400 VALIDATION_ERROR, creates nothing, and keeps serving', async () => {
    for (const depth of [100, 100_000]) {
      const raw = `{"inputs":{"j":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
      const res = await server.request('POST', '/api/v1/workflows/deep-in/executions', { raw, contentType: 'application/json' });
      expectError(res, 400, 'VALIDATION_ERROR');
      expect(res.body.error.message).toContain('nested deeper than 64 levels');
    }
    const list = await server.request('GET', '/api/v1/executions?workflowId=deep-in');
    expect(list.body.items).toHaveLength(0);
    expect((await server.request('GET', '/health/live', { auth: false })).status).toBe(200);
  });

  it('accepts reasonable nesting (40 levels) and runs it', async () => {
    const raw = `{"inputs":{"j":${'['.repeat(40)}${']'.repeat(40)}}}`;
    const res = await server.request('POST', '/api/v1/workflows/deep-in/executions?wait=10s', { raw, contentType: 'application/json' });
    expect(res.status, res.text).toBe(200);
    expect(res.body.state).toBe('SUCCESS');
  });
});

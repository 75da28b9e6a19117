import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRootLogger } from '../../src/common/logging';
import { SecretMasker } from '../../src/engine/expressions';

describe('root logger scrubbing', () => {
  it('masks workflow secrets in every line once the engine hands over its masker, in any encoding', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ak-log-')), 'server.log');
    const logger = createRootLogger('info', file);
    const secret = 'db pass"wörd/42';
    logger.info('before the masker: plain line');
    logger.maskSecretsWith?.(new SecretMasker([secret]));
    logger.error({ err: new Error(`connect failed for ${secret}`) }, 'execution failed unexpectedly');
    logger.warn({ url: `https://x.org/?p=${encodeURIComponent(secret)}` }, 'request');
    logger.info(`basic ${Buffer.from(`user:${secret}`).toString('base64')}`);
    logger.info({ nested: { [secret]: secret } }, 'as a key');
    await logger.flushWithin?.(1000);
    logger.flush?.();
    const text = readFileSync(file, 'utf8');
    const lines = text.trim().split('\n');
    expect(lines).toHaveLength(5);
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    for (const form of [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret), 'pass', 'w\\u00f6rd']) {
      expect(text).not.toContain(form);
    }
    expect(text.match(/\*\*\*/g)!.length).toBeGreaterThanOrEqual(5);
  });

  it('a lone line on a quiet server reaches the file within the batch latency, without an explicit flush', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ak-log-')), 'server.log');
    const logger = createRootLogger('info', file);
    logger.info('request completed');
    // far below the 4 KiB batch: only the latency timer can write it
    const deadline = Date.now() + 3000;
    let text = '';
    while (Date.now() < deadline && !text.includes('request completed')) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      text = readFileSync(file, 'utf8');
    }
    expect(JSON.parse(text.trim()).msg).toBe('request completed');
  });
});

/**
 * Log format (issue 11 §5): `logging.format` auto|json|pretty and the terminal banner.
 */
import { describe, expect, it } from 'vitest';
import { startupBanner, type BannerInfo } from '../../src/banner';
import { ConfigError, loadConfig } from '../../src/common/config/load-config';
import { resolveLogFormat } from '../../src/common/logging';
import { TEST_CONFIG } from '../support/server';

const terminal = () => true;
const notTerminal = () => false;

describe('resolveLogFormat', () => {
  it('auto is pretty on a terminal and JSON on anything else (pipe, file, container)', () => {
    expect(resolveLogFormat('auto', 1, terminal)).toBe('pretty');
    expect(resolveLogFormat('auto', 1, notTerminal)).toBe('json');
    expect(resolveLogFormat('auto', '/var/log/autokestra.log', terminal)).toBe('json');
  });

  it('json and pretty force the format whatever the destination', () => {
    expect(resolveLogFormat('json', 1, terminal)).toBe('json');
    expect(resolveLogFormat('pretty', 1, notTerminal)).toBe('pretty');
    expect(resolveLogFormat('pretty', '/tmp/x.log', notTerminal)).toBe('pretty');
  });
});

describe('logging.format setting', () => {
  it('defaults to auto, and AUTOKESTRA_LOG_FORMAT sets it', () => {
    expect(loadConfig({ file: TEST_CONFIG, env: {} }).logging.format).toBe('auto');
    expect(loadConfig({ file: TEST_CONFIG, env: { AUTOKESTRA_LOG_FORMAT: 'pretty' } }).logging.format).toBe('pretty');
    expect(loadConfig({ file: TEST_CONFIG, env: { AUTOKESTRA_LOG_FORMAT: 'json' } }).logging.format).toBe('json');
  });

  it('refuses an unknown format, naming the setting and the allowed values', () => {
    let error: unknown;
    try {
      loadConfig({ file: TEST_CONFIG, env: { AUTOKESTRA_LOG_FORMAT: 'colour' } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/logging\.format: must be one of the following values: auto, json, pretty/);
  });
});

describe('startupBanner', () => {
  const base: BannerInfo = {
    version: '9.9.9',
    url: 'http://127.0.0.1:8080',
    metricsUrl: null,
    database: './data/autokestra.db',
    keys: 'minted',
    logFormat: 'pretty',
  };

  it('names the API, its OpenAPI document, health, the database and how to stop', () => {
    const text = startupBanner(base);
    expect(text).toContain('Autokestra 9.9.9');
    expect(text).toContain('http://127.0.0.1:8080/api/v1 ');
    expect(text).toContain('http://127.0.0.1:8080/api/v1/openapi.json');
    expect(text).toContain('http://127.0.0.1:8080/health/ready');
    expect(text).toContain('./data/autokestra.db');
    expect(text).toContain('Ctrl+C');
    expect(text).not.toContain('Metrics');
  });

  it('says where the key is: minted now and printed above, static from the configuration, or managed in the database', () => {
    expect(startupBanner(base)).toMatch(/admin key minted just now, printed above \(shown once/);
    expect(startupBanner({ ...base, keys: 'static' })).toContain('AUTOKESTRA_API_KEYS or server.apiKeys');
    const managed = startupBanner({ ...base, keys: 'managed' });
    expect(managed).toContain('autokestra api-keys list');
    expect(managed).toContain('autokestra api-keys create --label NAME --scopes admin');
  });

  it('shows the metrics URL when metrics are enabled, and how to get JSON logs instead', () => {
    const text = startupBanner({ ...base, metricsUrl: 'http://127.0.0.1:9464' });
    expect(text).toContain('http://127.0.0.1:9464/metrics');
    expect(text).toContain('AUTOKESTRA_LOG_FORMAT=json');
    expect(startupBanner({ ...base, logFormat: 'json' })).toContain('JSON lines');
  });
});

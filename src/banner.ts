/**
 * What a person starting `serve` or `quickstart` at a terminal needs to know next: where the API
 * and its description are, and where the key comes from. Printed only when stdout is a terminal
 * (cli.ts); containers, CI and tests get the one `listening on` line and JSON logs.
 */
export interface BannerInfo {
  version: string;
  url: string;
  metricsUrl: string | null;
  /** already stripped of credentials (redactDatabaseSecrets) */
  database: string;
  keys: 'minted' | 'static' | 'managed';
  logFormat: 'json' | 'pretty';
}

const KEY_LINES: Record<BannerInfo['keys'], string[]> = {
  minted: ['admin key minted just now, printed above (shown once: only its SHA-256 is stored)'],
  static: ['static keys from AUTOKESTRA_API_KEYS or server.apiKeys in the config file'],
  managed: ['managed keys in the database: `autokestra api-keys list`,', '`autokestra api-keys create --label NAME --scopes admin` for a new one (printed once)'],
};

export function startupBanner(info: BannerInfo): string {
  const rows: [string, string[]][] = [
    ['API', [`${info.url}/api/v1  (send Authorization: Bearer <key>)`]],
    ['API docs', [`${info.url}/api/v1/openapi.json  (OpenAPI 3; docs/api.md in the repository)`]],
    ['Health', [`${info.url}/health/ready`]],
    ...(info.metricsUrl ? ([['Metrics', [`${info.metricsUrl}/metrics`]]] as [string, string[]][]) : []),
    ['API keys', KEY_LINES[info.keys]],
    ['Database', [info.database]],
    ['Logs', [info.logFormat === 'pretty' ? 'human-readable (logging.format: json or AUTOKESTRA_LOG_FORMAT=json for JSON lines)' : 'JSON lines']],
    ['Stop', ['Ctrl+C (finishes in-flight requests first)']],
  ];
  const lines = ['', `Autokestra ${info.version}`, ''];
  for (const [label, values] of rows) {
    values.forEach((value, i) => lines.push(`  ${(i === 0 ? label : '').padEnd(10)} ${value}`));
  }
  lines.push('', '');
  return lines.join('\n');
}

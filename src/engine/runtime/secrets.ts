import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { SecretMasker, type SecretResolver } from '../expressions';

const ENV_PREFIX = 'AUTOKESTRA_SECRET_';

/**
 * Workflow secrets: `AUTOKESTRA_SECRET_<NAME>` environment variables and an optional YAML file
 * of NAME: value. Every value is registered with the masker up front, so it is replaced by
 * `***` wherever it could surface (log lines, outputs, errors, API responses), used or not.
 */
export class SecretStore implements SecretResolver {
  private readonly values = new Map<string, string>();
  readonly masker = new SecretMasker();

  constructor(env: NodeJS.ProcessEnv = process.env, file?: string | null) {
    if (file) {
      const parsed = parseYaml(readFileSync(file, 'utf8'), { maxAliasCount: 10 }) as unknown;
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
        for (const [name, value] of Object.entries(parsed)) {
          if (value !== null && value !== undefined) this.set(name, String(value));
        }
      } else if (parsed !== null && parsed !== undefined) {
        throw new Error(`secrets file ${file} must be a YAML mapping of NAME: value`);
      }
    }
    for (const [name, value] of Object.entries(env)) {
      if (name.startsWith(ENV_PREFIX) && value !== undefined) this.set(name.slice(ENV_PREFIX.length), value);
    }
  }

  private set(name: string, value: string): void {
    this.values.set(name, value);
    if (value.length > 0) this.masker.add(value);
  }

  resolve(name: string): string | undefined {
    return this.values.get(name);
  }

  get names(): string[] {
    return [...this.values.keys()];
  }
}

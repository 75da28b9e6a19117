import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { NAMESPACE_GLOB_PATTERN, namespaceAllowed } from '../access/namespace-patterns';
import { SecretMasker, type SecretResolver } from '../expressions';
import type { SecretGrants } from '../dsl/parse-workflow';

const ENV_PREFIX = 'AUTOKESTRA_SECRET_';
const MAX_GLOB_LENGTH = 200;
const MAX_GLOBS = 100;
const FILE_ENTRY_PROPERTIES = new Set(['value', 'namespaces']);

/**
 * Where a secret without an allow-list of its own may be read: only the `default` namespace.
 * A single-team install keeps its workflows there and works unchanged; a server shared by teams
 * (namespaces) must grant each secret explicitly, so a new secret never reaches every team.
 */
export const DEFAULT_SECRET_NAMESPACES: readonly string[] = Object.freeze(['default']);

export interface SecretStoreOptions {
  /** env and file secrets' allow-lists by name (`secrets.namespaces`) */
  namespaces?: Readonly<Record<string, readonly string[]>>;
  /** allow-list of a secret that has none (`secrets.defaultNamespaces`); DEFAULT_SECRET_NAMESPACES when omitted */
  defaultNamespaces?: readonly string[];
  /** told about settings that refer to no secret (a likely typo), never about a value */
  warn?: (message: string) => void;
}

/** The secrets configuration is unusable; one line per problem, never a secret's value. */
export class SecretsConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid secrets configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/**
 * Problems with an allow-list of namespace globs (same syntax as API-key namespaces: `team-a`,
 * `team.*`, `*`), each prefixed with `where`. `allowEmpty` for the default list, where `[]`
 * means "no namespace" (every secret must then be granted explicitly).
 */
export function namespaceGlobProblems(value: unknown, where: string, allowEmpty = false): string[] {
  if (!Array.isArray(value)) return [`${where}: must be a list of namespace globs such as ['team-a', 'ops.*']`];
  if (value.length === 0 && !allowEmpty) return [`${where}: must be a non-empty list of namespace globs (omit it to use secrets.defaultNamespaces)`];
  if (value.length > MAX_GLOBS) return [`${where}: at most ${MAX_GLOBS} namespace globs`];
  const bad = value.filter((g) => typeof g !== 'string' || g.length > MAX_GLOB_LENGTH || !NAMESPACE_GLOB_PATTERN.test(g));
  if (bad.length === 0) return [];
  const shown = bad.map((g) => (typeof g === 'string' ? `'${g.slice(0, MAX_GLOB_LENGTH)}'` : JSON.stringify(g) ?? String(g)));
  return [`${where}: invalid namespace glob(s) ${shown.join(', ')}; use names like 'team-a' or globs like 'ops.*' or '*'`];
}

/** Problems with `secrets.namespaces`: a mapping of secret name to a non-empty glob list. */
export function secretNamespacesProblems(value: unknown, where = 'secrets.namespaces'): string[] {
  if (value === null || value === undefined) return [];
  if (typeof value !== 'object' || Array.isArray(value)) return [`${where}: must be a mapping of secret NAME to a list of namespace globs`];
  return Object.entries(value).flatMap(([name, globs]) => namespaceGlobProblems(globs, `${where}.${name}`));
}

interface SecretEntry {
  value: string;
  /** the secret's own allow-list, or null for the default */
  namespaces: readonly string[] | null;
}

function isScalar(value: unknown): value is string | number | boolean | bigint {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint';
}

/** Reads the secrets file: `NAME: value` or `NAME: {value, namespaces}`. Never quotes a value. */
function readSecretsFile(file: string, problems: string[]): Map<string, SecretEntry> {
  const entries = new Map<string, SecretEntry>();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    problems.push(`cannot read secrets file ${file}: ${(error as Error).message}`);
    return entries;
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text, { maxAliasCount: 10 }) as unknown;
  } catch (error) {
    // yaml's messages quote the offending source text, which may hold a value: keep the position only.
    const line = (error as { linePos?: { line: number }[] }).linePos?.[0]?.line;
    const code = (error as { code?: string }).code ?? 'parse error';
    problems.push(`secrets file ${file} is not valid YAML (${code}${line ? ` at line ${line}` : ''})`);
    return entries;
  }
  if (parsed === null || parsed === undefined) return entries;
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    problems.push(`secrets file ${file} must be a YAML mapping of NAME: value or NAME: {value: "...", namespaces: [...]}`);
    return entries;
  }
  for (const [name, raw] of Object.entries(parsed)) {
    const where = `secrets file ${file}: ${name}`;
    if (raw === null || raw === undefined) continue;
    if (isScalar(raw)) {
      entries.set(name, { value: String(raw), namespaces: null });
      continue;
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      problems.push(`${where}: must be a value or a mapping {value: "...", namespaces: [...]}`);
      continue;
    }
    const entry = raw as Record<string, unknown>;
    const unknown = Object.keys(entry).filter((k) => !FILE_ENTRY_PROPERTIES.has(k));
    if (unknown.length) problems.push(`${where}: unknown propert${unknown.length > 1 ? 'ies' : 'y'} ${unknown.map((k) => `'${k}'`).join(', ')}; allowed: value, namespaces`);
    if (!isScalar(entry.value)) {
      problems.push(`${where}.value: ${entry.value === undefined || entry.value === null ? 'is required' : 'must be a string, number or boolean'}`);
    }
    const globProblems = entry.namespaces === undefined || entry.namespaces === null ? [] : namespaceGlobProblems(entry.namespaces, `${where}.namespaces`);
    problems.push(...globProblems);
    if (isScalar(entry.value) && unknown.length === 0 && globProblems.length === 0) {
      entries.set(name, { value: String(entry.value), namespaces: (entry.namespaces as string[] | null | undefined) ?? null });
    }
  }
  return entries;
}

/**
 * Workflow secrets: `AUTOKESTRA_SECRET_<NAME>` environment variables and an optional YAML file.
 * Each secret belongs to the namespaces of its allow-list: its own (file entry or
 * `secrets.namespaces`), else `secrets.defaultNamespaces`. A workflow reads secrets only
 * through `forNamespace(<its namespace>)`, whose resolver answers outside the allow-list
 * exactly as for a name that does not exist (so no caller can tell the two apart).
 *
 * Masking is global: every value is registered with the masker up front, so it is replaced by
 * `***` wherever it could surface (log lines, outputs, errors, API responses), in every
 * namespace, used or not.
 */
export class SecretStore {
  private readonly entries = new Map<string, SecretEntry>();
  private readonly defaultNamespaces: readonly string[];
  private grantList: SecretGrants | null = null;
  readonly masker = new SecretMasker();

  constructor(env: NodeJS.ProcessEnv = process.env, file?: string | null, options: SecretStoreOptions = {}) {
    const problems: string[] = [];
    const defaults = options.defaultNamespaces ?? DEFAULT_SECRET_NAMESPACES;
    problems.push(...namespaceGlobProblems(defaults, 'secrets.defaultNamespaces', true));
    problems.push(...secretNamespacesProblems(options.namespaces));
    this.defaultNamespaces = [...defaults];

    const fromFile = file ? readSecretsFile(file, problems) : new Map<string, SecretEntry>();
    for (const [name, entry] of fromFile) this.entries.set(name, entry);
    for (const [name, value] of Object.entries(env)) {
      // The environment wins over the file for the same name, allow-list included: the file's
      // entry is replaced as a whole, so its namespaces never apply to another value.
      if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
      const secretName = name.slice(ENV_PREFIX.length);
      if (this.entries.get(secretName)?.namespaces) {
        options.warn?.(`secret ${secretName} is defined by ${name} and in the secrets file with namespaces: the environment's value is used, and the file's namespaces do not apply to it (set secrets.namespaces.${secretName})`);
      }
      this.entries.set(secretName, { value, namespaces: null });
    }
    for (const [name, globs] of Object.entries(options.namespaces ?? {})) {
      const entry = this.entries.get(name);
      if (!entry) {
        options.warn?.(`secrets.namespaces.${name}: no secret ${name} is defined (${ENV_PREFIX}${name} or the secrets file); the setting has no effect`);
      } else if (entry.namespaces !== null) {
        problems.push(`secrets.namespaces.${name}: ${name} already has namespaces in the secrets file; keep one of the two`);
      } else {
        entry.namespaces = [...globs];
      }
    }
    if (problems.length) throw new SecretsConfigError(problems);
    for (const entry of this.entries.values()) if (entry.value.length > 0) this.masker.add(entry.value);
  }

  /** Each secret's effective allow-list, for the apply-time check (names and globs, never values). */
  grants(): SecretGrants {
    return (this.grantList ??= [...this.entries].map(([name, entry]) => [name, entry.namespaces ?? this.defaultNamespaces] as const));
  }

  /** Whether a workflow in `namespace` may read the secret `name` (false when it does not exist). */
  isReadableFrom(name: string, namespace: string): boolean {
    const entry = this.entries.get(name);
    return entry !== undefined && namespaceAllowed(namespace, entry.namespaces ?? this.defaultNamespaces);
  }

  /**
   * The resolver for expressions evaluated by a workflow of `namespace`: `undefined` for a name
   * that does not exist and for one outside its allow-list alike.
   */
  forNamespace(namespace: string): SecretResolver {
    return { resolve: (name) => (this.isReadableFrom(name, namespace) ? this.entries.get(name)!.value : undefined) };
  }

  get names(): string[] {
    return [...this.entries.keys()];
  }
}

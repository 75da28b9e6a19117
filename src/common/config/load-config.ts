import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { parse as parseYaml } from 'yaml';
import { namespaceGlobProblems, secretNamespacesProblems } from '../../engine/runtime/secrets';
import { AddressPolicy } from '../../engine/tasks/ssrf';
import { AppConfig, CORE_SECTIONS } from './config.schema';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export interface LoadConfigOptions {
  /** explicit file (from --config); falls back to AUTOKESTRA_CONFIG, then ./config.yaml if present */
  file?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** The validated core settings, and the top-level sections no core setting claims (extension sections, validated by their modules). */
export interface LoadedConfig {
  config: AppConfig;
  sections: Record<string, unknown>;
}

/** The package root, where config/default.yaml lives: src/common/config and dist/common/config are both three levels down. */
export const PACKAGE_ROOT = resolve(__dirname, '..', '..', '..');

type Plain = Record<string, unknown>;

export function isPlainObject(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function deepMerge(base: Plain, override: Plain): Plain {
  const out: Plain = { ...base };
  for (const [key, value] of Object.entries(override)) {
    out[key] = isPlainObject(value) && isPlainObject(base[key]) ? deepMerge(base[key] as Plain, value) : value;
  }
  return out;
}

function readYamlFile(path: string, problems: string[]): Plain {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    problems.push(`cannot read config file ${path}: ${(error as Error).message}`);
    return {};
  }
  try {
    const value = parseYaml(text, { maxAliasCount: 100 }) ?? {};
    if (!isPlainObject(value)) {
      problems.push(`config file ${path} must contain a YAML mapping`);
      return {};
    }
    return value;
  } catch (error) {
    problems.push(`config file ${path} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
    return {};
  }
}

function intFromEnv(name: string, raw: string, problems: string[]): number | undefined {
  if (!/^\d+$/.test(raw.trim())) {
    problems.push(`${name} must be an integer, got '${raw}'`);
    return undefined;
  }
  return Number(raw.trim());
}

function boolFromEnv(name: string, raw: string, problems: string[]): boolean | undefined {
  const value = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  problems.push(`${name} must be true or false, got '${raw}'`);
  return undefined;
}

/** AUTOKESTRA_METRICS_ENABLED / _HOST / _PORT → metrics.* */
function metricsFromEnv(env: NodeJS.ProcessEnv, problems: string[]): Plain | undefined {
  const metrics: Plain = {};
  if (env.AUTOKESTRA_METRICS_ENABLED !== undefined && env.AUTOKESTRA_METRICS_ENABLED !== '') {
    const value = boolFromEnv('AUTOKESTRA_METRICS_ENABLED', env.AUTOKESTRA_METRICS_ENABLED, problems);
    if (value !== undefined) metrics.enabled = value;
  }
  if (env.AUTOKESTRA_METRICS_PORT !== undefined && env.AUTOKESTRA_METRICS_PORT !== '') {
    const value = intFromEnv('AUTOKESTRA_METRICS_PORT', env.AUTOKESTRA_METRICS_PORT, problems);
    if (value !== undefined) metrics.port = value;
  }
  if (env.AUTOKESTRA_METRICS_HOST) metrics.host = env.AUTOKESTRA_METRICS_HOST;
  return Object.keys(metrics).length > 0 ? metrics : undefined;
}

function listFromEnv(raw: string): string[] {
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

/** AUTOKESTRA_MCP_ALLOWED_ORIGINS / _ALLOWED_HOSTS (comma-separated) / _PUBLIC_URL → mcp.* */
function mcpFromEnv(env: NodeJS.ProcessEnv): Plain | undefined {
  const mcp: Plain = {};
  if (env.AUTOKESTRA_MCP_ALLOWED_ORIGINS !== undefined) mcp.allowedOrigins = listFromEnv(env.AUTOKESTRA_MCP_ALLOWED_ORIGINS);
  if (env.AUTOKESTRA_MCP_ALLOWED_HOSTS !== undefined) mcp.allowedHosts = listFromEnv(env.AUTOKESTRA_MCP_ALLOWED_HOSTS);
  if (env.AUTOKESTRA_MCP_PUBLIC_URL) mcp.publicUrl = env.AUTOKESTRA_MCP_PUBLIC_URL;
  return Object.keys(mcp).length > 0 ? mcp : undefined;
}

/** An absolute http(s) URL without query or fragment; trailing slashes are dropped. */
function publicUrlProblem(url: string | null): string | null {
  if (url === null) return null;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return `mcp.publicUrl must be an http(s) URL, got '${url}'`;
    if (parsed.search || parsed.hash) return `mcp.publicUrl must not carry a query or fragment, got '${url}'`;
    return null;
  } catch {
    return `mcp.publicUrl must be an absolute URL such as https://autokestra.example.com, got '${url}'`;
  }
}

/** Environment variables win over files: they are how containers are configured. */
function envOverrides(env: NodeJS.ProcessEnv, problems: string[]): Plain {
  const server: Plain = {};
  const overrides: Plain = {};
  if (env.AUTOKESTRA_API_KEYS !== undefined) {
    server.apiKeys = env.AUTOKESTRA_API_KEYS.split(',')
      .map((k) => k.trim())
      .filter((k) => k.length > 0);
  }
  const port = env.AUTOKESTRA_PORT ?? env.PORT;
  if (port !== undefined && port !== '') {
    const value = intFromEnv(env.AUTOKESTRA_PORT !== undefined ? 'AUTOKESTRA_PORT' : 'PORT', port, problems);
    if (value !== undefined) server.port = value;
  }
  if (env.AUTOKESTRA_HOST) server.host = env.AUTOKESTRA_HOST;
  if (Object.keys(server).length > 0) overrides.server = server;
  const database: Plain = {};
  if (env.AUTOKESTRA_DATABASE_URL) database.url = env.AUTOKESTRA_DATABASE_URL;
  const pool: Plain = {};
  for (const [name, key] of [
    ['AUTOKESTRA_DATABASE_POOL_MIN', 'min'],
    ['AUTOKESTRA_DATABASE_POOL_MAX', 'max'],
  ] as const) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const value = intFromEnv(name, raw, problems);
    if (value !== undefined) pool[key] = value;
  }
  if (Object.keys(pool).length > 0) database.pool = pool;
  const statementTimeout = env.AUTOKESTRA_DATABASE_STATEMENT_TIMEOUT_MS;
  if (statementTimeout !== undefined && statementTimeout !== '') {
    const value = intFromEnv('AUTOKESTRA_DATABASE_STATEMENT_TIMEOUT_MS', statementTimeout, problems);
    if (value !== undefined) database.statementTimeoutMs = value;
  }
  if (Object.keys(database).length > 0) overrides.database = database;
  const logging: Record<string, unknown> = {};
  if (env.AUTOKESTRA_LOG_LEVEL) logging.level = env.AUTOKESTRA_LOG_LEVEL;
  if (env.AUTOKESTRA_LOG_FORMAT) logging.format = env.AUTOKESTRA_LOG_FORMAT;
  if (Object.keys(logging).length > 0) overrides.logging = logging;
  const metrics = metricsFromEnv(env, problems);
  if (metrics) overrides.metrics = metrics;
  const mcp = mcpFromEnv(env);
  if (mcp) overrides.mcp = mcp;
  if (env.AUTOKESTRA_SHELL_ENABLED !== undefined) {
    overrides.engine = { tasks: { shell: { enabled: ['1', 'true', 'yes'].includes(env.AUTOKESTRA_SHELL_ENABLED.toLowerCase()) } } };
  }
  return overrides;
}

/** One line per problem, each with the setting's full path (`server.port: must not be ...`). */
export function flattenErrors(errors: ValidationError[], prefix = ''): string[] {
  const lines: string[] = [];
  for (const error of errors) {
    const path = prefix ? `${prefix}.${error.property}` : error.property;
    if (error.constraints) {
      for (const message of Object.values(error.constraints)) {
        // class-validator phrases messages with the bare property name; show the full path instead
        lines.push(`${path}: ${message.replace(new RegExp(`^${error.property}\\b\\s*`), '')}`);
      }
    }
    if (error.children?.length) lines.push(...flattenErrors(error.children, path));
  }
  return lines;
}

/**
 * Loads default.yaml <- user file <- environment, validates everything and throws a ConfigError
 * listing every problem (one line each) when anything is wrong.
 */
export function loadConfig(options: LoadConfigOptions = {}): AppConfig {
  return loadConfigFrom(options, false).config;
}

/**
 * Like loadConfig, but top-level sections outside the core settings are returned as they are
 * instead of refused: the modules that declare them validate them (config-sections.ts), and
 * bootstrap() refuses those no module declares.
 */
export function loadConfigWithSections(options: LoadConfigOptions = {}): LoadedConfig {
  return loadConfigFrom(options, true);
}

/** Splits a plain settings object into the core sections and the rest. */
export function splitSections(merged: Plain): { core: Plain; sections: Record<string, unknown> } {
  const core: Plain = {};
  const sections: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(merged)) {
    if ((CORE_SECTIONS as readonly string[]).includes(key)) core[key] = value;
    else sections[key] = value;
  }
  return { core, sections };
}

function loadConfigFrom(options: LoadConfigOptions, keepSections: boolean): LoadedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const problems: string[] = [];

  let merged = readYamlFile(join(PACKAGE_ROOT, 'config', 'default.yaml'), problems);
  const explicit = options.file ?? env.AUTOKESTRA_CONFIG;
  if (explicit) {
    merged = deepMerge(merged, readYamlFile(resolve(cwd, explicit), problems));
  } else if (existsSync(join(cwd, 'config.yaml'))) {
    merged = deepMerge(merged, readYamlFile(join(cwd, 'config.yaml'), problems));
  }
  merged = deepMerge(merged, envOverrides(env, problems));
  if (problems.length) throw new ConfigError(problems);

  const { core, sections } = keepSections ? splitSections(merged) : { core: merged, sections: {} };
  const config = plainToInstance(AppConfig, core);
  const errors = validateSync(config, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true, stopAtFirstError: true });
  const lines = flattenErrors(errors).map((line) => line.replace(/property (\S+) should not exist/, 'unknown setting'));
  if (lines.length) throw new ConfigError(lines);

  const secretProblems = [
    ...namespaceGlobProblems(config.secrets.defaultNamespaces, 'secrets.defaultNamespaces', true),
    ...secretNamespacesProblems(config.secrets.namespaces),
  ];
  if (secretProblems.length) throw new ConfigError(secretProblems);
  try {
    new AddressPolicy(config.engine.tasks.http);
  } catch (error) {
    throw new ConfigError([(error as Error).message]);
  }
  const urlProblem = publicUrlProblem(config.mcp.publicUrl ?? null);
  if (urlProblem) throw new ConfigError([urlProblem]);
  if (config.mcp.publicUrl) config.mcp.publicUrl = config.mcp.publicUrl.replace(/\/+$/, '');
  if (config.engine.heartbeatMs >= config.engine.leaseMs) {
    throw new ConfigError([`engine.heartbeatMs (${config.engine.heartbeatMs}) must be smaller than engine.leaseMs (${config.engine.leaseMs})`]);
  }
  return { config, sections };
}

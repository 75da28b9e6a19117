import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Max,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';

/**
 * The typed, validated configuration. Loaded by `loadConfig` from config/default.yaml, an
 * optional user file and environment variables; unknown settings are rejected so a typo never
 * silently falls back to a default.
 */
export class ServerConfig {
  @IsString() @MinLength(1) host: string;
  /** 0 picks a free port (tests) */
  @IsInt() @Min(0) @Max(65535) port: number;
  /** each entry a plaintext of >= 32 chars or `sha256:<64 hex>`; checked by the auth layer */
  @IsArray() @IsString({ each: true }) apiKeys: string[];
  @IsInt() @Min(1024) @Max(104_857_600) bodyLimitBytes: number;
  /** false, true, a hop count, or a comma-separated list of trusted proxy addresses/CIDRs */
  @IsOptional() trustProxy: boolean | number | string;
  @IsInt() @Min(0) requestTimeoutMs: number;
  @IsInt() @Min(0) headersTimeoutMs: number;
  @IsInt() @Min(0) keepAliveTimeoutMs: number;
  /** how long readiness reports 503 before the listener closes, so load balancers stop routing */
  @IsInt() @Min(0) @Max(120_000) drainDelayMs: number;
}

/** PostgreSQL connection pool of one process (SQLite always uses its single connection). */
export class DatabasePoolConfig {
  @IsInt() @Min(0) @Max(1000) min: number;
  /** the migration step holds one connection for its advisory lock, so at least 2 */
  @IsInt() @Min(2) @Max(1000) max: number;
}

export class DatabaseConfig {
  /** a SQLite file path (or `:memory:`), or a `postgresql://` URL */
  @IsString() @MinLength(1) url: string;
  @ValidateNested() @Type(() => DatabasePoolConfig) pool: DatabasePoolConfig;
  /** PostgreSQL `statement_timeout` on every connection; 0 = none */
  @IsInt() @Min(0) statementTimeoutMs: number;
}

export class LoggingConfig {
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) level: string;
  /** auto: human-readable on a terminal, JSON lines otherwise (containers, CI, files, pipes) */
  @IsIn(['auto', 'json', 'pretty']) format: 'auto' | 'json' | 'pretty';
}

export class ShellTaskConfig {
  @IsBoolean() enabled: boolean;
  @IsInt() @Min(1024) maxOutputBytes: number;
}

export class HttpTaskConfig {
  @IsInt() @Min(1024) maxResponseBytes: number;
  @IsArray() @IsString({ each: true }) allowCidrs: string[];
  @IsArray() @IsString({ each: true }) denyCidrs: string[];
}

export class TaskTypesConfig {
  @ValidateNested() @Type(() => ShellTaskConfig) shell: ShellTaskConfig;
  @ValidateNested() @Type(() => HttpTaskConfig) http: HttpTaskConfig;
}

/** The budget of one expression evaluation (see src/engine/expressions/budget.ts). */
export class ExpressionsConfig {
  @IsInt() @Min(1000) maxCost: number;
  @IsInt() @Min(10) maxCollectionSize: number;
  @IsInt() @Min(1024) maxStringLength: number;
  @IsInt() @Min(10) @Max(60_000) maxEvaluationMs: number;
}

export class EngineConfig {
  @IsInt() @Min(0) @Max(1000) workers: number;
  @IsInt() @Min(5) @Max(60_000) pollIntervalMs: number;
  @IsInt() @Min(1000) leaseMs: number;
  @IsInt() @Min(100) heartbeatMs: number;
  @IsInt() @Min(0) shutdownGraceMs: number;
  /** process deaths without progress after which an execution ends FAILED with kind CRASH_LOOP */
  @IsInt() @Min(1) @Max(100) crashLoopLimit: number;
  /** largest outputs a task may produce (JSON bytes) */
  @IsInt() @Min(1024) @Max(67_108_864) maxOutputBytes: number;
  @ValidateNested() @Type(() => ExpressionsConfig) expressions: ExpressionsConfig;
  @ValidateNested() @Type(() => TaskTypesConfig) tasks: TaskTypesConfig;
}

export class RetentionConfig {
  @IsInt() @Min(1) days: number;
  @IsInt() @Min(1000) sweepIntervalMs: number;
}

export class SecretsConfig {
  @IsOptional() @IsString() file: string | null;
  /** secret NAME -> namespace globs that may read it (checked by secretNamespacesProblems) */
  @IsOptional() namespaces: Record<string, string[]> | null;
  /** namespaces that may read a secret without an allow-list of its own */
  @IsArray() @IsString({ each: true }) defaultNamespaces: string[];
}

export class AuthConfig {
  /** how long another process may keep using a key after it was disabled, revoked or rotated */
  @IsInt() @Min(0) @Max(60_000) keyCacheTtlMs: number;
  /** lastUsedAt is written at most this often per key */
  @IsInt() @Min(0) lastUsedWriteIntervalMs: number;
  /** failed authentications allowed per window, per client address and per presented credential, before failing attempts get 429 */
  @IsInt() @Min(1) failedAttemptsLimit: number;
  @IsInt() @Min(1000) failedAttemptsWindowMs: number;
  /** repeated auth failures are aggregated into one audit event per window */
  @IsInt() @Min(1000) failureAuditWindowMs: number;
}

/** Prometheus metrics on a listener of their own, never on the API port (docs/deployment.md). */
export class MetricsConfig {
  /** off by default: several processes on one machine must not fight over one port */
  @IsBoolean() enabled: boolean;
  @IsString() @MinLength(1) host: string;
  /** 0 picks a free port (tests) */
  @IsInt() @Min(0) @Max(65535) port: number;
}

/** The MCP endpoint (`POST /mcp`): DNS-rebinding defence and the URL it advertises (docs/tools.md). */
export class McpConfig {
  /** browser origins allowed to call /mcp (exact `scheme://host[:port]`); a request with any other Origin gets 403 */
  @IsArray() @IsString({ each: true }) allowedOrigins: string[];
  /** extra Host values (`name` or `name:port`) accepted when the server listens on a loopback address */
  @IsArray() @IsString({ each: true }) allowedHosts: string[];
  /** the externally visible base URL (e.g. https://autokestra.example.com); null = derived from the request */
  @IsOptional() @IsString() publicUrl: string | null;
}

export class AppConfig {
  @ValidateNested() @Type(() => AuthConfig) auth: AuthConfig;
  @ValidateNested() @Type(() => ServerConfig) server: ServerConfig;
  @ValidateNested() @Type(() => DatabaseConfig) database: DatabaseConfig;
  @ValidateNested() @Type(() => LoggingConfig) logging: LoggingConfig;
  @ValidateNested() @Type(() => EngineConfig) engine: EngineConfig;
  @ValidateNested() @Type(() => RetentionConfig) retention: RetentionConfig;
  @ValidateNested() @Type(() => SecretsConfig) secrets: SecretsConfig;
  @ValidateNested() @Type(() => MetricsConfig) metrics: MetricsConfig;
  @ValidateNested() @Type(() => McpConfig) mcp: McpConfig;
}

/** The top-level sections the core settings own; any other top-level key belongs to an extension section or is refused. */
export const CORE_SECTIONS = ['auth', 'server', 'database', 'logging', 'engine', 'retention', 'secrets', 'metrics', 'mcp'] as const satisfies readonly (keyof AppConfig)[];
// every AppConfig section is listed (a new section that is not listed fails to compile here)
const coreSectionsComplete: Exclude<keyof AppConfig, (typeof CORE_SECTIONS)[number]> extends never ? true : never = true;
void coreSectionsComplete;

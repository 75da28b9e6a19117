import type { EngineLogger, EngineOptions } from '../../engine/engine';
import type { AppConfig } from './config.schema';

/** Maps the validated app configuration onto what the engine needs. */
export function engineOptionsFrom(config: AppConfig, logger?: EngineLogger): EngineOptions {
  return {
    databaseUrl: config.database.url,
    databasePool: { min: config.database.pool.min, max: config.database.pool.max },
    statementTimeoutMs: config.database.statementTimeoutMs,
    logger,
    workers: config.engine.workers,
    pollIntervalMs: config.engine.pollIntervalMs,
    leaseMs: config.engine.leaseMs,
    heartbeatMs: config.engine.heartbeatMs,
    shutdownGraceMs: config.engine.shutdownGraceMs,
    crashLoopLimit: config.engine.crashLoopLimit,
    maxOutputBytes: config.engine.maxOutputBytes,
    expressions: { ...config.engine.expressions },
    tasks: {
      http: { maxResponseBytes: config.engine.tasks.http.maxResponseBytes, allowCidrs: config.engine.tasks.http.allowCidrs, denyCidrs: config.engine.tasks.http.denyCidrs },
      shell: { enabled: config.engine.tasks.shell.enabled, maxOutputBytes: config.engine.tasks.shell.maxOutputBytes },
    },
    retention: { days: config.retention.days, sweepIntervalMs: config.retention.sweepIntervalMs },
    secretsFile: config.secrets.file,
    secretNamespaces: config.secrets.namespaces ?? undefined,
    secretDefaultNamespaces: config.secrets.defaultNamespaces,
    staticApiKeys: config.server.apiKeys,
    auth: {
      keyCacheTtlMs: config.auth.keyCacheTtlMs,
      lastUsedWriteIntervalMs: config.auth.lastUsedWriteIntervalMs,
      failureAuditWindowMs: config.auth.failureAuditWindowMs,
    },
  };
}

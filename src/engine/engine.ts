import { ApiKeyManager } from './access/api-keys';
import type { EngineLogger } from './logger';
import { AuditLog } from './access/audit';
import { StaticKeySet } from './access/static-keys';
import type { ExpressionLimits } from './expressions';
import type { Caller } from './access/scopes';
import { testCrashHook } from './runtime/crash-loop';
import { testClock, testHostname } from './runtime/test-hooks';
import { ExecutionService } from './runtime/executions';
import type { RunnerDeps } from './runtime/execution-runner';
import { LogWriter } from './runtime/log-writer';
import { EngineEvents } from './observer';
import { RetentionSweeper } from './runtime/retention';
import { Scheduler } from './runtime/scheduler';
import { SecretStore } from './runtime/secrets';
import { WorkerPool } from './runtime/worker-pool';
import { openStore } from './store/open-store';
import type { StateStore } from './store/state-store';
import { TaskTypeRegistry } from './tasks/registry';
import type { TaskRuntimeConfig, TaskType, TaskTypeSchema } from './tasks/task-type';
import { ToolService } from './tools/tool-service';
import { WorkflowCatalog } from './workflows';

export type { EngineLogger } from './logger';
export type { EngineObserver } from './observer';

/** Everything the engine needs from configuration (the app maps its config onto this). */
export interface EngineOptions {
  databaseUrl: string;
  /** PostgreSQL only: connection pool size and per-statement timeout (0 = none) */
  databasePool?: { min: number; max: number };
  statementTimeoutMs?: number;
  /** run migrations while opening (idempotent) */
  migrate?: boolean;
  logger?: EngineLogger;
  workers: number;
  pollIntervalMs: number;
  leaseMs: number;
  heartbeatMs: number;
  shutdownGraceMs: number;
  /** process deaths without progress after which an execution ends FAILED with kind CRASH_LOOP */
  crashLoopLimit: number;
  maxOutputBytes: number;
  /** the budget of every expression evaluation (unset fields: DEFAULT_EXPRESSION_LIMITS) */
  expressions?: Partial<ExpressionLimits>;
  tasks: TaskRuntimeConfig;
  /**
   * Task types added to the built-in ones (a platform team's plugins). Workflows use them like
   * built-in types; a name that is already taken stops the start.
   */
  taskTypes?: readonly TaskType[];
  retention: { days: number; sweepIntervalMs: number };
  secretsFile: string | null;
  /** allow-lists of secrets by name (`secrets.namespaces`) */
  secretNamespaces?: Readonly<Record<string, readonly string[]>>;
  /** allow-list of a secret without one (`secrets.defaultNamespaces`); `['default']` when omitted */
  secretDefaultNamespaces?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** static keys from configuration (plaintext >= 32 chars or sha256:<hex>) */
  staticApiKeys: readonly string[];
  auth: { keyCacheTtlMs: number; lastUsedWriteIntervalMs: number; failureAuditWindowMs: number };
}

export type EngineState = 'starting' | 'ready' | 'draining' | 'stopped';

/** The engine acting on its own (crash recovery), in the audit trail. */
const ENGINE_CALLER: Caller = { actor: 'engine', ip: null };

const silentLogger: EngineLogger = { info() {}, warn() {}, error() {}, debug() {} };

/**
 * The engine as a library: the HTTP modules and the CLI both hold one and call the same
 * methods. `open` prepares the store; `start` begins running executions (workers, schedules,
 * retention); `shutdown` drains and releases what is still running.
 */
export class Engine {
  private stateValue: EngineState = 'starting';
  readonly workflows: WorkflowCatalog;
  readonly executions: ExecutionService;
  readonly logger: EngineLogger;
  readonly secrets: SecretStore;
  readonly audit: AuditLog;
  readonly apiKeys: ApiKeyManager;
  /** the tool catalogue and invocation path shared by REST and MCP */
  readonly tools: ToolService;
  /** what the engine reports as it works (metrics subscribe here); nothing listens by default */
  readonly events = new EngineEvents();
  private readonly pool: WorkerPool;
  private readonly scheduler: Scheduler;
  private readonly retention: RetentionSweeper;
  private readonly logWriter: LogWriter;
  private started = false;
  /** aborted when draining begins: log followers end, so open streams do not hold up shutdown */
  private readonly drain = new AbortController();

  /** every task type this engine runs: built-in and from `options.taskTypes` */
  readonly taskTypes: TaskTypeRegistry;

  private constructor(
    private readonly store: StateStore,
    readonly options: EngineOptions,
    secrets: SecretStore,
    taskTypes: TaskTypeRegistry,
  ) {
    this.taskTypes = taskTypes;
    this.logger = options.logger ?? silentLogger;
    this.secrets = secrets;
    this.audit = new AuditLog(store.access, { failureWindowMs: options.auth.failureAuditWindowMs, logger: this.logger });
    this.apiKeys = new ApiKeyManager(store.access, this.audit, new StaticKeySet(options.staticApiKeys), {
      cacheTtlMs: options.auth.keyCacheTtlMs,
      lastUsedWriteIntervalMs: options.auth.lastUsedWriteIntervalMs,
      onFailure: (reason) => this.events.authFailed(reason),
    });
    // The schemas are computed once per registry change, not per apply.
    let schemas: { version: number; value: readonly TaskTypeSchema[] } | null = null;
    const currentSchemas = () => {
      if (schemas === null || schemas.version !== taskTypes.version) schemas = { version: taskTypes.version, value: taskTypes.schemas(options.tasks) };
      return schemas.value;
    };
    this.workflows = new WorkflowCatalog(store, { taskTypes: currentSchemas, secrets }, this.audit);
    this.logWriter = new LogWriter(store.executions, this.secrets.masker, {
      flushIntervalMs: 50,
      maxBuffered: 1000,
      onError: (error) => {
        this.events.storeError('log_write');
        this.logger.error({ err: error }, 'writing execution logs failed');
      },
      events: this.events,
    });
    const env = options.env ?? process.env;
    const clock = testClock(env) ?? Date.now;
    const deps: RunnerDeps = {
      store,
      tasks: taskTypes,
      taskConfig: options.tasks,
      secrets: this.secrets,
      logs: this.logWriter,
      logger: this.logger,
      maxOutputBytes: options.maxOutputBytes,
      expressionLimits: options.expressions,
      now: clock,
      crashHook: testCrashHook(env),
      subflows: undefined as never, // set below: the service is also the subflow launcher
      loadDefinition: (id, revision) => this.workflows.definitionOf(id, revision),
      events: this.events,
    };
    this.pool = new WorkerPool(
      store,
      deps,
      {
        workers: options.workers,
        pollIntervalMs: options.pollIntervalMs,
        leaseMs: options.leaseMs,
        heartbeatMs: options.heartbeatMs,
        crashLoopLimit: options.crashLoopLimit,
        now: clock,
        host: testHostname(env),
      },
      this.logger,
      (id) => this.executions.notifyFinished(id),
      (stopped) => {
        this.audit.record(ENGINE_CALLER, {
          action: 'execution.crash_loop',
          resourceType: 'execution',
          resourceId: stopped.id,
          namespace: stopped.namespace,
          outcome: 'failure',
          details: { workflowId: stopped.workflowId, taskId: stopped.error.taskId },
        });
        this.executions.notifyFinished(stopped.id);
      },
    );
    this.executions = new ExecutionService(store, this.workflows, this.pool, this.audit, this.secrets.masker, undefined, this.events, {
      onLogs: (id, fn) => this.logWriter.onWritten(id, fn),
      drained: this.drain.signal,
    });
    deps.subflows = this.executions;
    this.tools = new ToolService(store, this.workflows, this.executions, this.audit);
    this.scheduler = new Scheduler(store, this.logger, () => this.pool.poke(), this.events);
    this.retention = new RetentionSweeper(store, { days: options.retention.days, intervalMs: options.retention.sweepIntervalMs }, this.logger);
  }

  /** Opens the store (migrating it) and returns an engine ready to serve requests. */
  static async open(options: EngineOptions): Promise<Engine> {
    // Task types first: a duplicate or invalid type is a programming error, found before anything is opened.
    const taskTypes = TaskTypeRegistry.withBuiltIns(options.taskTypes ?? []);
    // Secrets next: a bad secrets configuration stops the start before anything is opened.
    const secrets = new SecretStore(options.env ?? process.env, options.secretsFile, {
      namespaces: options.secretNamespaces,
      defaultNamespaces: options.secretDefaultNamespaces,
      warn: (message) => (options.logger ?? silentLogger).warn(message),
    });
    const { store } = await openStore({
      url: options.databaseUrl,
      migrate: options.migrate ?? true,
      pool: options.databasePool,
      statementTimeoutMs: options.statementTimeoutMs,
      log: (level, message) => (options.logger ?? silentLogger)[level]({ component: 'database' }, message),
    });
    const engine = new Engine(store, options, secrets, taskTypes);
    engine.stateValue = 'ready';
    return engine;
  }

  /**
   * Adds a task type after the engine opened, before it starts: how task types that live in a
   * DI container (Nest providers, created after the engine) join. Throws on a duplicate name, and
   * once the engine runs (a type appearing mid-flight would make applies disagree with runs).
   */
  registerTaskType(type: TaskType, origin: string): void {
    if (this.started) throw new Error(`task type '${String(type?.name)}' (${origin}) registered after the engine started; register task types before start()`);
    this.taskTypes.register(type, origin);
  }

  /** Starts running executions: workers, schedule triggers, retention. */
  start(options: { schedules?: boolean; retention?: boolean } = {}): void {
    if (this.started) return;
    this.started = true;
    this.pool.start();
    // The first large apply should not also pay for starting the parser thread.
    this.workflows.parser.warm();
    if (options.schedules !== false) this.scheduler.start();
    if (options.retention !== false) this.retention.start();
  }

  get state(): EngineState {
    return this.stateValue;
  }

  get initialized(): boolean {
    return this.stateValue === 'ready' || this.stateValue === 'draining';
  }

  get owner(): string {
    return this.pool.owner;
  }

  getStateStore(): StateStore {
    return this.store;
  }

  /** executions running in this process now */
  get runningCount(): number {
    return this.pool.activeCount;
  }

  /** executions this process runs at once at most (`engine.workers`) */
  get workerSlots(): number {
    return this.options.workers;
  }

  /** QUEUED executions in the store (every replica's queue: it is one table) */
  queueDepth(): Promise<number> {
    return this.store.executions.countQueued();
  }

  /** Readiness turns false and no new executions are claimed; running ones continue. */
  beginDrain(): void {
    if (this.stateValue === 'ready') this.stateValue = 'draining';
    this.scheduler.stop();
    this.pool.stopClaiming();
    this.drain.abort();
  }

  /** Running executions get `shutdownGraceMs`, then go back to the queue; logs are flushed. */
  async shutdown(): Promise<void> {
    if (this.stateValue === 'stopped') return;
    this.beginDrain();
    this.stateValue = 'stopped';
    this.retention.stop();
    await this.pool.shutdown(this.options.shutdownGraceMs);
    await this.workflows.parser.close();
    await this.logWriter.flush();
    await this.audit.close();
    await this.store.close();
  }
}

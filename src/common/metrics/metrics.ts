import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Engine } from '../../engine/engine';
import type { EngineObserver, FinishedState, RateLimiter, RecoveryReason } from '../../engine/observer';
import type { LogLevelName } from '../../engine/store/execution-types';
import { VERSION } from '../../version';

/** A scrape must answer even while the database does not: the queue depth gives up after this. */
const QUEUE_DEPTH_TIMEOUT_MS = 1000;

const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const RUN_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
const LOG_LEVELS: readonly LogLevelName[] = ['DEBUG', 'INFO', 'WARN', 'ERROR'];
const STORE_OPERATIONS = ['claim', 'lease_renewal', 'cancel_poll', 'recovery', 'execution', 'log_write', 'schedule_tick', 'queue_depth'];

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** `bad authorization header` → `bad_authorization_header`: label values stay identifiers. */
function labelValue(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9_]+/g, '_');
}

/**
 * The Prometheus metrics of one server: a registry of its own (never prom-client's global one,
 * so several servers in one test process do not collide), the engine observer that moves the
 * counters, and the HTTP request histogram the server feeds. Exists only when metrics.enabled.
 */
export class Metrics {
  readonly registry = new Registry();
  private engine: Engine | null = null;
  private unsubscribe: (() => void) | null = null;

  private readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  private readonly executionsStarted: Counter<'workflow'>;
  private readonly executionsFinished: Counter<'workflow' | 'state'>;
  private readonly executionDuration: Histogram<'state'>;
  private readonly taskDuration: Histogram<'type' | 'state'>;
  private readonly taskRetries: Counter<'workflow' | 'type'>;
  private readonly leaseRecoveries: Counter<'reason'>;
  private readonly authFailures: Counter<'reason'>;
  private readonly rateLimited: Counter<'limiter'>;
  private readonly storeErrors: Counter<'operation'>;
  /** one pre-bound child per level: a log line costs one addition, no label hashing */
  private readonly logLines = new Map<string, { inc(): void }>();

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({ name: 'autokestra_build_info', help: 'Always 1; the version is in the label', labelNames: ['version'], registers }).set({ version: VERSION }, 1);
    this.httpDuration = new Histogram({
      name: 'autokestra_http_request_duration_seconds',
      help: 'API requests by route pattern (not the raw URL) and status',
      labelNames: ['method', 'route', 'status'],
      buckets: HTTP_BUCKETS,
      registers,
    });
    this.executionsStarted = new Counter({
      name: 'autokestra_executions_started_total',
      help: 'Executions this process started (first claim; a resumed execution is not counted again)',
      labelNames: ['workflow'],
      registers,
    });
    this.executionsFinished = new Counter({
      name: 'autokestra_executions_finished_total',
      help: 'Executions that ended, by final state',
      labelNames: ['workflow', 'state'],
      registers,
    });
    this.executionDuration = new Histogram({
      name: 'autokestra_execution_duration_seconds',
      help: 'Execution run time, from its first start to its end',
      labelNames: ['state'],
      buckets: RUN_BUCKETS,
      registers,
    });
    this.taskDuration = new Histogram({
      name: 'autokestra_task_duration_seconds',
      help: 'Duration of one attempt of a leaf task, by task type and outcome',
      labelNames: ['type', 'state'],
      buckets: RUN_BUCKETS,
      registers,
    });
    this.taskRetries = new Counter({
      name: 'autokestra_task_retries_total',
      help: 'Failed task attempts that will be retried',
      labelNames: ['workflow', 'type'],
      registers,
    });
    this.leaseRecoveries = new Counter({
      name: 'autokestra_lease_recoveries_total',
      help: 'Executions this process took back from a dead owner (expired lease, or a dead process on this host)',
      labelNames: ['reason'],
      registers,
    });
    this.authFailures = new Counter({
      name: 'autokestra_auth_failures_total',
      help: 'Requests that failed authentication, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.rateLimited = new Counter({
      name: 'autokestra_rate_limited_requests_total',
      help: 'Requests refused with 429, by limiter (failed_auth: too many failed authentications; api_key: the key rate limit)',
      labelNames: ['limiter'],
      registers,
    });
    const logLines = new Counter({
      name: 'autokestra_log_lines_total',
      help: 'Execution log lines written, by level',
      labelNames: ['level'],
      registers,
    });
    for (const level of LOG_LEVELS) this.logLines.set(level, logLines.labels(level));
    this.storeErrors = new Counter({
      name: 'autokestra_store_errors_total',
      help: 'Failed store operations of the background loops (claim, lease_renewal, recovery, log_write, ...)',
      labelNames: ['operation'],
      registers,
    });
    // Known label values start at 0, so rate() and alerts work before the first event.
    for (const reason of ['lease_expired', 'dead_process']) this.leaseRecoveries.inc({ reason }, 0);
    for (const limiter of ['failed_auth', 'api_key']) this.rateLimited.inc({ limiter }, 0);
    for (const operation of STORE_OPERATIONS) this.storeErrors.inc({ operation }, 0);
    for (const level of LOG_LEVELS) logLines.inc({ level }, 0);

    const queueDepth: Gauge = new Gauge({
      name: 'autokestra_queue_depth',
      help: 'QUEUED executions in the store: the whole queue, the same on every replica (use max, not sum)',
      registers,
      collect: async () => {
        if (!this.engine) return;
        try {
          queueDepth.set(await withTimeout(this.engine.queueDepth(), QUEUE_DEPTH_TIMEOUT_MS));
        } catch {
          // keep the last value; the failure is counted, and readiness reports the store
          this.storeErrors.inc({ operation: 'queue_depth' });
        }
      },
    });
    const running: Gauge = new Gauge({
      name: 'autokestra_executions_running',
      help: 'Executions running in this process',
      registers,
      collect: () => {
        if (this.engine) running.set(this.engine.runningCount);
      },
    });
    const slots: Gauge = new Gauge({
      name: 'autokestra_worker_slots',
      help: 'Executions this process runs at once at most (engine.workers)',
      registers,
      collect: () => {
        if (this.engine) slots.set(this.engine.workerSlots);
      },
    });
  }

  /** Starts observing an engine (its events, its queue). */
  attach(engine: Engine): void {
    this.detach();
    this.engine = engine;
    this.unsubscribe = engine.events.subscribe(this.observer());
  }

  detach(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.engine = null;
  }

  /** One finished API request; `route` is the matched route pattern, undefined when none matched. */
  observeRequest(method: string, route: string | undefined, status: number, elapsedMs: number): void {
    this.httpDuration.observe({ method, route: route ?? 'unmatched', status: String(status) }, elapsedMs / 1000);
  }

  private observer(): EngineObserver {
    return {
      executionStarted: (workflowId: string) => this.executionsStarted.inc({ workflow: workflowId }),
      executionFinished: (workflowId: string, state: FinishedState, durationMs: number | null) => {
        this.executionsFinished.inc({ workflow: workflowId, state });
        if (durationMs !== null) this.executionDuration.observe({ state }, durationMs / 1000);
      },
      taskFinished: (_workflowId: string, type: string, state: FinishedState, durationMs: number) => this.taskDuration.observe({ type, state }, durationMs / 1000),
      taskRetried: (workflowId: string, type: string) => this.taskRetries.inc({ workflow: workflowId, type }),
      leasesRecovered: (count: number, reason: RecoveryReason) => this.leaseRecoveries.inc({ reason }, count),
      authFailed: (reason: string) => this.authFailures.inc({ reason: labelValue(reason) }),
      rateLimited: (limiter: RateLimiter) => this.rateLimited.inc({ limiter }),
      logLineWritten: (level: LogLevelName) => this.logLines.get(level)?.inc(),
      storeError: (operation: string) => this.storeErrors.inc({ operation }),
    };
  }
}

import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { EngineLogger } from '../logger';
import type { ExecutionRecord } from '../store/execution-types';
import type { CrashLoopedExecution, RecoveryResult } from '../store/sql-recovery';
import type { StateStore } from '../store/state-store';
import { StopReason } from './abort';
import { ExecutionRun, type RunnerDeps, type RunOutcome } from './execution-runner';

export interface WorkerPoolOptions {
  /** executions this process runs at once */
  workers: number;
  pollIntervalMs: number;
  leaseMs: number;
  heartbeatMs: number;
  /** process deaths without progress after which an execution ends FAILED (CRASH_LOOP) */
  crashLoopLimit: number;
  /** this process's clock (default Date.now); on PostgreSQL leases use the database's instead */
  now?: () => number;
  /** the host part of the owner id (default os.hostname()) */
  host?: string;
}

/** `host/pid/nonce`: unique per engine instance, and tells a restarted server which owners died on this host. */
export function newOwnerId(host = hostname()): string {
  return `${host}/${process.pid}/${randomBytes(4).toString('hex')}`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** executions taken back from a dead owner: re-queued, cancelled as asked, or stopped for crash-looping */
function recoveredCount(result: RecoveryResult): number {
  return result.requeued.length + result.cancelled.length + result.crashLooped.length;
}

interface Running {
  controller: AbortController;
  done: Promise<RunOutcome>;
}

/**
 * Claims QUEUED executions oldest first (as many as `workers` at once), keeps their leases
 * alive, notices cancels requested through other processes, and recovers executions whose
 * owner died: at once when that owner was a process on this host that no longer exists (a
 * restarted single server), otherwise when its lease expires.
 */
export class WorkerPool {
  readonly owner: string;
  private readonly running = new Map<string, Running>();
  private claiming = false;
  private stopped = true;
  private wakeUp: (() => void) | null = null;
  private timers: NodeJS.Timeout[] = [];
  private loopDone: Promise<void> = Promise.resolve();
  /**
   * The suspect (an execution recovered from a crash since its last progress) this process runs,
   * if any. Suspects run one at a time per process: when a poison pill kills the process again,
   * the other suspects are not in it and are not blamed. The slot frees at the suspect's first
   * progress, at its end, or after one lease (so a suspect waiting on a long task or a subflow
   * cannot hold the others back for ever).
   */
  private suspect: { id: string; since: number } | null = null;

  constructor(
    private readonly store: StateStore,
    private readonly deps: RunnerDeps,
    private readonly options: WorkerPoolOptions,
    private readonly logger: EngineLogger,
    private readonly onFinished: (executionId: string, outcome: RunOutcome) => void,
    private readonly onCrashLoop: (execution: CrashLoopedExecution) => void = () => undefined,
  ) {
    this.owner = newOwnerId(options.host);
  }

  private now(): number {
    return this.options.now ? this.options.now() : Date.now();
  }

  get activeCount(): number {
    return this.running.size;
  }

  isRunningHere(executionId: string): boolean {
    return this.running.has(executionId);
  }

  start(): void {
    if (!this.stopped || this.options.workers === 0) return;
    this.stopped = false;
    this.claiming = true;
    const { heartbeatMs, leaseMs } = this.options;
    this.timers.push(setInterval(() => void this.heartbeat(), heartbeatMs));
    this.timers.push(setInterval(() => void this.pollCancels(), Math.min(250, heartbeatMs)));
    this.timers.push(setInterval(() => void this.recover(), Math.max(1000, Math.floor(leaseMs / 2))));
    for (const timer of this.timers) timer.unref();
    this.loopDone = this.recover().then(() => this.claimLoop());
  }

  /** Wakes the claim loop now (a trigger in this process, or a slot freed). */
  poke(): void {
    this.wakeUp?.();
  }

  /** Aborts an execution running here; false when it is not running in this process. */
  abortLocal(executionId: string, reason: StopReason): boolean {
    const running = this.running.get(executionId);
    if (!running) return false;
    running.controller.abort(reason);
    return true;
  }

  /** Draining: no new claims from now on; running executions continue. */
  stopClaiming(): void {
    this.claiming = false;
    this.poke();
  }

  /**
   * Graceful stop: no more claims; running executions get `graceMs` to finish, then are
   * stopped and released back to the queue with their progress kept.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.claiming = false;
    this.poke();
    await this.loopDone;
    if (this.running.size > 0) {
      const all = Promise.allSettled([...this.running.values()].map((r) => r.done));
      const graceOver = new Promise((resolve) => setTimeout(resolve, graceMs).unref());
      await Promise.race([all, graceOver]);
      for (const [id, running] of this.running) {
        this.logger.info({ executionId: id }, 'releasing execution to the queue (shutdown)');
        running.controller.abort(new StopReason('SHUTDOWN', 'the server is shutting down'));
      }
      await all;
    }
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }

  private async claimLoop(): Promise<void> {
    let backoff = this.options.pollIntervalMs;
    while (this.claiming) {
      try {
        while (this.claiming && this.running.size < this.options.workers) {
          // One claim per free slot, issued together: on SQLite they share one group commit,
          // applied one after the other (each sees the previous, so concurrency limits hold).
          const now = this.now();
          const free = Math.min(this.options.workers - this.running.size, 32);
          // only the first claim of a batch may take a suspect, and only while none runs here
          const suspectAllowed = this.suspect === null || now - this.suspect.since >= this.options.leaseMs;
          const claimed = await Promise.all(
            Array.from({ length: free }, (_, i) =>
              this.store.executions.claimNext(this.owner, now + this.options.leaseMs, now, { suspects: suspectAllowed && i === 0 }),
            ),
          );
          for (const execution of claimed) if (execution) this.launch(execution);
          if (claimed.some((execution) => execution === null)) break;
        }
        backoff = this.options.pollIntervalMs;
      } catch (error) {
        this.deps.events?.storeError('claim');
        this.logger.error({ err: error }, 'claiming executions failed; retrying');
        backoff = Math.min(backoff * 2, 5000);
      }
      if (!this.claiming) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoff);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = null;
    }
  }

  private launch(execution: ExecutionRecord): void {
    const controller = new AbortController();
    const suspect = execution.crashRecoveries > 0;
    if (suspect) this.suspect = { id: execution.id, since: this.now() };
    const events = this.deps.events;
    if (execution.claim === 1) events?.executionStarted(execution.workflowId);
    const clearSuspect = () => {
      if (this.suspect?.id !== execution.id) return;
      this.suspect = null;
      this.poke();
    };
    const done = new ExecutionRun(this.deps, execution, controller, clearSuspect)
      .run()
      .catch((error: unknown) => {
        // what a runner does not handle itself is a failed write of its state
        events?.storeError('execution');
        this.logger.error({ err: error, executionId: execution.id }, 'execution runner crashed');
        return 'LOST' as RunOutcome;
      })
      .then((outcome) => {
        if (outcome === 'SUCCESS' || outcome === 'FAILED' || outcome === 'CANCELLED') {
          events?.executionFinished(execution.workflowId, outcome, execution.startedAt === null ? null : this.now() - execution.startedAt);
        }
        if (suspect) clearSuspect();
        this.running.delete(execution.id);
        this.onFinished(execution.id, outcome);
        this.poke();
        return outcome;
      });
    this.running.set(execution.id, { controller, done });
  }

  private async heartbeat(): Promise<void> {
    if (this.running.size === 0) return;
    try {
      await this.store.executions.renewLeases(this.owner, this.options.leaseMs, this.now());
    } catch (error) {
      this.deps.events?.storeError('lease_renewal');
      this.logger.warn({ err: error }, 'lease renewal failed');
    }
  }

  private async pollCancels(): Promise<void> {
    if (this.running.size === 0) return;
    try {
      for (const id of await this.store.executions.cancellingOwnedBy(this.owner)) {
        this.abortLocal(id, new StopReason('CANCELLED', 'cancelled'));
      }
    } catch (error) {
      this.deps.events?.storeError('cancel_poll');
      this.logger.warn({ err: error }, 'cancel polling failed');
    }
  }

  /**
   * Requeues executions of dead owners: dead local processes at once, others by lease expiry.
   * Both count as crash recoveries; a crash-looping execution is stopped instead (crash-loop.ts).
   */
  private async recover(): Promise<void> {
    try {
      const now = this.now();
      const host = this.options.host ?? hostname();
      const { crashLoopLimit } = this.options;
      for (const owner of await this.store.executions.activeOwners()) {
        const [ownerHost, pid] = owner.split('/');
        if (ownerHost === host && Number(pid) !== process.pid && !processAlive(Number(pid))) {
          const result = await this.store.executions.recoverAbandoned(now, { owner, crashLoopLimit });
          this.deps.events?.leasesRecovered(recoveredCount(result), 'dead_process');
          this.reportRecovery(result, 'recovered executions of a dead process', { owner });
        }
      }
      const expired = await this.store.executions.recoverAbandoned(now, { crashLoopLimit });
      this.deps.events?.leasesRecovered(recoveredCount(expired), 'lease_expired');
      this.reportRecovery(expired, 'recovered executions with expired leases', {});
      if (expired.requeued.length) this.poke();
    } catch (error) {
      this.deps.events?.storeError('recovery');
      this.logger.warn({ err: error }, 'recovery sweep failed');
    }
  }

  private reportRecovery(result: RecoveryResult, message: string, context: object): void {
    const { requeued, cancelled, crashLooped } = result;
    if (requeued.length || cancelled.length) this.logger.info({ ...context, requeued, cancelled }, message);
    for (const execution of crashLooped) {
      // ids and the engine's own message only: nothing of the execution's data
      this.logger.error(
        { ...context, executionId: execution.id, workflowId: execution.workflowId, taskId: execution.error.taskId, kind: execution.error.kind },
        `execution stopped for crash-looping: ${execution.error.message}`,
      );
      this.deps.events?.executionFinished(execution.workflowId, 'FAILED', null);
      this.onCrashLoop(execution);
    }
  }
}

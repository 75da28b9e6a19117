import type { EngineLogger } from '../logger';
import type { StateStore } from '../store/state-store';

/** Purges finished executions (with task runs and logs) older than `retention.days`. */
export class RetentionSweeper {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: StateStore,
    private readonly options: { days: number; intervalMs: number },
    private readonly logger: EngineLogger,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.sweep(), this.options.intervalMs);
    this.timer.unref();
    void this.sweep();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async sweep(now = Date.now()): Promise<{ executions: number; logs: number }> {
    try {
      const cutoff = now - this.options.days * 86_400_000;
      const result = await this.store.executions.purgeFinishedBefore(cutoff);
      const auditEvents = await this.store.access.purgeAuditBefore(cutoff);
      if (result.executions > 0 || auditEvents > 0) this.logger.info({ ...result, auditEvents }, 'retention: purged old executions and audit events');
      return result;
    } catch (error) {
      this.logger.error({ err: error }, 'retention sweep failed');
      return { executions: 0, logs: 0 };
    }
  }
}

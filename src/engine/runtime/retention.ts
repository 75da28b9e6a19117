import type { EngineLogger } from '../engine';
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
      const result = await this.store.executions.purgeFinishedBefore(now - this.options.days * 86_400_000);
      if (result.executions > 0) this.logger.info(result, 'retention: purged old executions');
      return result;
    } catch (error) {
      this.logger.error({ err: error }, 'retention sweep failed');
      return { executions: 0, logs: 0 };
    }
  }
}

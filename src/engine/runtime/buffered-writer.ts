/**
 * Collects items and writes them in batches: after `flushIntervalMs`, when `maxBuffered` is
 * reached, or when asked. Flushes are chained, so batches land in order. Used for execution
 * logs and audit events, whose per-item commits would dominate the hot path.
 */
export class BufferedWriter<T> {
  private buffer: T[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly writeBatch: (batch: T[]) => Promise<void>,
    private readonly options: { flushIntervalMs: number; maxBuffered: number; onError: (error: unknown) => void },
  ) {}

  push(item: T): void {
    this.buffer.push(item);
    if (this.buffer.length >= this.options.maxBuffered) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.options.flushIntervalMs);
      this.timer.unref();
    }
  }

  /** Hands over everything buffered, for a caller that stores it in its own transaction. */
  drain(): T[] {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batch = this.buffer;
    this.buffer = [];
    return batch;
  }

  /** Resolves once the batches already handed to `writeBatch` are stored (buffers nothing new). */
  idle(): Promise<void> {
    return this.flushing;
  }

  /** Writes everything buffered so far; resolves when it is stored. */
  flush(): Promise<void> {
    const batch = this.drain();
    this.flushing = this.flushing.then(async () => {
      if (batch.length === 0) return;
      try {
        await this.writeBatch(batch);
      } catch (error) {
        this.options.onError(error);
      }
    });
    return this.flushing;
  }
}

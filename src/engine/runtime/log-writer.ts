import type { ExecutionStore } from '../store/state-store';
import type { NewLogLine } from '../store/execution-types';
import type { SecretMasker } from '../expressions';

const MAX_MESSAGE_CHARS = 16 * 1024;

/**
 * Buffers log lines and writes them in batches (one multi-row insert per flush): ingest stays
 * fast while tasks log heavily. Lines are masked before they are buffered. `flush()` is awaited
 * at task end and on shutdown, so nothing a finished task logged is lost.
 */
export class LogWriter {
  private buffer: NewLogLine[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: ExecutionStore,
    private readonly masker: SecretMasker,
    private readonly options: { flushIntervalMs: number; maxBuffered: number; onError: (error: unknown) => void },
  ) {}

  write(line: NewLogLine): void {
    let message = this.masker.size > 0 ? this.masker.mask(line.message) : line.message;
    if (message.length > MAX_MESSAGE_CHARS) message = `${message.slice(0, MAX_MESSAGE_CHARS)}… [truncated ${message.length - MAX_MESSAGE_CHARS} chars]`;
    this.buffer.push({ ...line, message });
    if (this.buffer.length >= this.options.maxBuffered) void this.flush();
    else if (!this.timer) this.timer = setTimeout(() => void this.flush(), this.options.flushIntervalMs);
  }

  /**
   * Hands over everything buffered so far, so the caller can store it in the same transaction
   * as the task run it is writing (one commit, and the lines are durable with the state).
   */
  drain(): NewLogLine[] {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batch = this.buffer;
    this.buffer = [];
    return batch;
  }

  /** Writes everything buffered so far; resolves when it is stored. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batch = this.buffer;
    this.buffer = [];
    // chain flushes so batches land in order
    this.flushing = this.flushing.then(async () => {
      if (batch.length === 0) return;
      try {
        await this.store.appendLogs(batch);
      } catch (error) {
        this.options.onError(error);
      }
    });
    return this.flushing;
  }
}

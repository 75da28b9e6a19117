import { EventEmitter } from 'node:events';
import type { ExecutionStore } from '../store/state-store';
import type { NewLogLine } from '../store/execution-types';
import type { SecretMasker } from '../expressions';
import type { EngineEvents } from '../observer';
import { BufferedWriter } from './buffered-writer';

const MAX_MESSAGE_CHARS = 16 * 1024;

/**
 * Execution log lines, masked before they are buffered and written in batches (one multi-row
 * insert per flush): ingest stays fast while tasks log heavily. At task end the runner drains
 * the buffer into the same transaction as the task run, so a finished task's lines are durable
 * with its state; the engine flushes on shutdown.
 */
export class LogWriter {
  private readonly writer: BufferedWriter<NewLogLine>;
  private readonly events: EngineEvents | undefined;
  /** execution id → "lines of it were stored": wakes log followers early (they poll anyway) */
  private readonly written = new EventEmitter();

  constructor(
    store: ExecutionStore,
    private readonly masker: SecretMasker,
    options: { flushIntervalMs: number; maxBuffered: number; onError: (error: unknown) => void; events?: EngineEvents },
  ) {
    this.writer = new BufferedWriter(async (batch) => {
      await store.appendLogs(batch);
      this.announce(batch);
    }, options);
    this.events = options.events;
    this.written.setMaxListeners(0);
  }

  write(line: NewLogLine): void {
    let message = this.masker.size > 0 ? this.masker.mask(line.message) : line.message;
    if (message.length > MAX_MESSAGE_CHARS) message = `${message.slice(0, MAX_MESSAGE_CHARS)}… [truncated ${message.length - MAX_MESSAGE_CHARS} chars]`;
    this.writer.push({ ...line, message });
    this.events?.logLineWritten(line.level);
  }

  drain(): NewLogLine[] {
    return this.writer.drain();
  }

  flush(): Promise<void> {
    return this.writer.flush();
  }

  /** Resolves once the batches already being written are stored (see ExecutionRunner.finish). */
  idle(): Promise<void> {
    return this.writer.idle();
  }

  /** Calls `fn` after lines of `executionId` were stored by this process; returns the unsubscribe. */
  onWritten(executionId: string, fn: () => void): () => void {
    this.written.on(executionId, fn);
    return () => this.written.off(executionId, fn);
  }

  /** Tells followers of the executions in `lines` (nothing to do, and no loop, when none listen). */
  announce(lines: readonly NewLogLine[]): void {
    if (this.written.eventNames().length === 0) return;
    const seen = new Set<string>();
    for (const line of lines) {
      if (seen.has(line.executionId)) continue;
      seen.add(line.executionId);
      this.written.emit(line.executionId);
    }
  }
}

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

  constructor(
    store: ExecutionStore,
    private readonly masker: SecretMasker,
    options: { flushIntervalMs: number; maxBuffered: number; onError: (error: unknown) => void; events?: EngineEvents },
  ) {
    this.writer = new BufferedWriter((batch) => store.appendLogs(batch), options);
    this.events = options.events;
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
}

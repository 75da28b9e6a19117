import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { parseWorkflow, type ParseOptions, type ParseResult } from './parse-workflow';
import type { DefinitionHeader, ParseReply, ParseRequest } from './parse-worker';
import type { WorkflowDefinition } from './types';

export interface WorkflowParserOptions {
  /** sources shorter than this are parsed inline: a few milliseconds, less than a round trip */
  inlineBelowChars?: number;
  /** the compiled worker entry; null parses everything inline */
  workerFile?: string | null;
  /** the worker's heap cap: a document that needs more fails alone, the server stays up */
  maxHeapMb?: number;
}

const DEFAULT_INLINE_BELOW_CHARS = 32 * 1024;

/** The compiled worker next to this file; absent when running from TypeScript sources (tests). */
function defaultWorkerFile(): string | null {
  const file = join(__dirname, 'parse-worker.js');
  return existsSync(file) ? file : null;
}

/**
 * A parse result. From the worker, a valid definition comes as `definitionJson` (stored and
 * answered as is) with `header`; `definition` is then decoded only when something reads it.
 */
export type ParsedWorkflow = ParseResult & { definitionJson?: string; header?: DefinitionHeader };

function lazyDefinition(definitionJson: string, header: DefinitionHeader): ParsedWorkflow {
  let decoded: WorkflowDefinition | undefined;
  return {
    ok: true,
    definitionJson,
    header,
    get definition(): WorkflowDefinition {
      return (decoded ??= JSON.parse(definitionJson) as WorkflowDefinition);
    },
  };
}

interface Pending {
  resolve(result: ParsedWorkflow): void;
  reject(error: Error): void;
}

/**
 * Parses workflow sources. Parsing is linear, but a 1 MiB document still takes a few hundred
 * milliseconds of CPU, which would stall every other request (and the liveness probe) on the
 * event loop: large sources go to one worker thread, started on first use and kept. Requests are
 * answered in order; a worker that dies (heap cap) fails its pending parses and is replaced.
 */
export class WorkflowParser {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly inlineBelowChars: number;
  private readonly workerFile: string | null;
  private readonly maxHeapMb: number;

  constructor(options: WorkflowParserOptions = {}) {
    this.inlineBelowChars = options.inlineBelowChars ?? DEFAULT_INLINE_BELOW_CHARS;
    this.workerFile = options.workerFile === undefined ? defaultWorkerFile() : options.workerFile;
    this.maxHeapMb = options.maxHeapMb ?? 512;
  }

  /** True when large sources are parsed off the main thread. */
  get threaded(): boolean {
    return this.workerFile !== null;
  }

  parse(source: string, options: ParseOptions): Promise<ParsedWorkflow> {
    if (this.workerFile === null || source.length < this.inlineBelowChars) return Promise.resolve(parseWorkflow(source, options));
    const worker = this.ensureWorker(this.workerFile);
    const id = this.nextId++;
    return new Promise<ParsedWorkflow>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) worker.ref();
      worker.postMessage({ id, source, options } satisfies ParseRequest);
    });
  }

  /** Starts the worker now (it loads the parser modules) rather than on the first large apply. */
  warm(): void {
    if (this.workerFile !== null) this.ensureWorker(this.workerFile);
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    this.failPending(new Error('the workflow parser was closed'));
    if (worker) await worker.terminate();
  }

  private ensureWorker(file: string): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(file, { resourceLimits: { maxOldGenerationSizeMb: this.maxHeapMb } });
    // An idle worker must not keep the process alive; it is ref'd while parses are pending.
    worker.unref();
    worker.on('message', (reply: ParseReply) => {
      const pending = this.pending.get(reply.id);
      if (!pending) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      if ('result' in reply) pending.resolve(reply.result);
      else if ('definitionJson' in reply) pending.resolve(lazyDefinition(reply.definitionJson, reply.header));
      else pending.reject(new Error(`workflow parsing failed: ${reply.error}`));
    });
    const lost = (error: Error) => {
      if (this.worker === worker) this.worker = null;
      this.failPending(error);
    };
    worker.on('error', (error) => lost(error));
    worker.on('exit', (code) => lost(new Error(`the workflow parser stopped (exit code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private failPending(error: Error): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(error);
  }
}

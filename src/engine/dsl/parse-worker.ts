import { parentPort } from 'node:worker_threads';
import { parseWorkflow, type ParseOptions, type ParseResult } from './parse-workflow';

export interface ParseRequest {
  id: number;
  source: string;
  options: ParseOptions;
}

export type ParseReply = { id: number; result: ParseResult } | { id: number; error: string };

/** Worker thread entry: parses workflows off the main thread (see WorkflowParser). */
parentPort?.on('message', ({ id, source, options }: ParseRequest) => {
  let reply: ParseReply;
  try {
    reply = { id, result: parseWorkflow(source, options) };
  } catch (error) {
    reply = { id, error: error instanceof Error ? error.message : String(error) };
  }
  parentPort!.postMessage(reply);
});

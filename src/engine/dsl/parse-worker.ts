import { parentPort } from 'node:worker_threads';
import { parseWorkflow, type ParseOptions, type ParseResult } from './parse-workflow';
import type { WorkflowDefinition } from './types';

export interface ParseRequest {
  id: number;
  source: string;
  options: ParseOptions;
}

/**
 * A valid definition travels as JSON only (stored and answered as is by the main thread, which
 * decodes it only if something reads it), with the few fields that applying needs.
 */
export type ParseReply =
  | { id: number; result: ParseResult & { ok: false } }
  | { id: number; definitionJson: string; header: DefinitionHeader }
  | { id: number; error: string };

export type DefinitionHeader = Pick<WorkflowDefinition, 'id' | 'namespace' | 'description' | 'triggers' | 'tool'>;

/** Worker thread entry: parses workflows off the main thread (see WorkflowParser). */
parentPort?.on('message', ({ id, source, options }: ParseRequest) => {
  let reply: ParseReply;
  try {
    const result = parseWorkflow(source, options);
    if (result.ok) {
      const { id: workflowId, namespace, description, triggers, tool } = result.definition;
      reply = { id, definitionJson: JSON.stringify(result.definition), header: { id: workflowId, namespace, description, triggers, tool } };
    } else {
      reply = { id, result };
    }
  } catch (error) {
    reply = { id, error: error instanceof Error ? error.message : String(error) };
  }
  parentPort!.postMessage(reply);
});

import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  InitializeRequestSchema,
  LATEST_PROTOCOL_VERSION,
  ListToolsRequestSchema,
  McpError,
  type CallToolResult,
  type Implementation,
  type InitializeResult,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '../engine/access/scopes';
import { EngineError } from '../engine/errors';
import type { EngineLogger } from '../engine/logger';
import { ToolNotFoundError } from '../engine/tools/tool-service';
import { IDEMPOTENCY_KEY_PATTERN, type ToolDescriptor, type ToolInvocation, type ToolResult } from '../engine/tools/types';
import { VERSION } from '../version';

/**
 * The MCP face of the tool catalogue (docs/tools.md, issue 8 §4), shared by `POST /mcp` and
 * `autokestra mcp` (stdio). Framework-free: a low-level SDK `Server` with raw JSON Schema
 * handlers (McpServer.registerTool wants zod schemas; ours are generated JSON Schema).
 */

/** The protocol revisions we speak; the SDK also knows older ones, which we do not offer. */
export const MCP_PROTOCOL_VERSIONS: readonly string[] = ['2025-11-25', '2025-06-18', '2025-03-26'];

/** What the MCP face needs of the engine's ToolService (`engine.tools`). */
export interface McpToolSource {
  listAll(principal: Principal): Promise<ToolDescriptor[]>;
  invoke(name: string, invocation: ToolInvocation, principal: Principal): Promise<ToolResult>;
}

export interface ToolServerOptions {
  tools: McpToolSource;
  /**
   * Who calls. A function is asked again for every request: a long-lived stdio server must
   * notice a key that was revoked, disabled or expired after it started.
   */
  principal: Principal | (() => Promise<Principal>);
  transport: 'mcp' | 'stdio';
  /**
   * Who the client is when the server never sees its `initialize` (stateless HTTP: every POST
   * gets a fresh server, so a tools/call arrives without clientInfo): the User-Agent.
   */
  fallbackClient?: string | null;
  /**
   * The HTTP request's `Idempotency-Key` (already validated): a retried POST /mcp carrying the
   * same key answers the first call's execution instead of starting another, as on triggers.
   */
  idempotencyKey?: string;
  logger?: EngineLogger;
}

/**
 * Where a client puts an idempotency key per call (stdio has no headers; an HTTP client may
 * prefer it to the header): `_meta` of tools/call, a reverse-DNS name as MCP asks for custom keys.
 */
export const IDEMPOTENCY_META_KEY = 'io.autokestra/idempotency-key';

const INSTRUCTIONS =
  'Autokestra workflows exposed as tools. A call waits for the workflow up to the tool\'s wait budget; ' +
  'if it is still running, the answer has status RUNNING and an executionId: follow it with get_execution ' +
  '(and get_execution_logs), or stop it with cancel_execution.';

/** A descriptor as MCP lists it: no engine fields (workflowId, namespace). */
export function toMcpTool(descriptor: ToolDescriptor): Tool {
  const tool: Tool = { name: descriptor.name, description: descriptor.description, inputSchema: descriptor.inputSchema };
  if (descriptor.title) tool.title = descriptor.title;
  if (descriptor.outputSchema) tool.outputSchema = descriptor.outputSchema as Tool['outputSchema'];
  tool.annotations = { ...descriptor.annotations };
  return tool;
}

function textBlock(text: string): { type: 'text'; text: string } {
  return { type: 'text', text };
}

/** `inputs.day` → `day`: the model passed `day`, not `inputs.day`. */
function argumentName(field: string): string {
  return field.startsWith('inputs.') ? field.slice('inputs.'.length) : field;
}

/** A tool's answer as an MCP CallToolResult: text JSON for every client, structuredContent for those that read it. */
export function toCallToolResult(result: ToolResult): CallToolResult {
  switch (result.kind) {
    case 'value':
      return { content: [textBlock(JSON.stringify(result.value))], structuredContent: result.value, isError: result.isError };
    case 'dry_run': {
      const value = { status: result.status, tool: result.tool, inputs: result.inputs, plan: result.plan };
      return { content: [textBlock(JSON.stringify(value))], structuredContent: value };
    }
    case 'execution': {
      // No nulls: a client validates structuredContent against the published outputSchema,
      // which declares `outputs` and `error` as objects present only when they apply.
      const value: Record<string, unknown> = { executionId: result.executionId, status: result.status };
      if (result.outputs !== null) value.outputs = result.outputs;
      if (result.error) value.error = result.error;
      value.durationMs = result.durationMs;
      const content = [textBlock(JSON.stringify(value))];
      const failed = result.status === 'FAILED' || result.status === 'CANCELLED';
      if (failed) {
        const where = result.error?.taskId ? ` in task '${result.error.taskId}'` : '';
        const why = result.error ? `: ${result.error.message}${result.error.kind ? ` (${result.error.kind})` : ''}` : '';
        content.push(textBlock(`The execution ${result.executionId} ended ${result.status}${where}${why}. Read its logs with get_execution_logs before retrying.`));
      } else if (!result.finished) {
        content.push(
          textBlock(
            `The execution ${result.executionId} is still ${result.status} after this tool's wait. It keeps running: ` +
              `call get_execution with {"executionId": "${result.executionId}"} until its status is SUCCESS, FAILED or CANCELLED.`,
          ),
        );
      }
      return { content, structuredContent: value, ...(failed ? { isError: true } : {}) };
    }
  }
}

/**
 * An engine error a model can act on, as a tool result with isError (the MCP spec wants tool
 * failures in the result, where the model sees them, not as protocol errors). No
 * structuredContent: it would have to match the tool's outputSchema.
 */
export function errorToolResult(error: EngineError): CallToolResult {
  const body = { error: { code: error.code, message: error.message, ...(error.details !== undefined ? { details: error.details } : {}) } };
  const blocks = [textBlock(JSON.stringify(body))];
  if (error.code === 'INVALID_INPUTS' && Array.isArray(error.details)) {
    const lines = (error.details as { field: string; message: string }[]).map((d) => `- ${argumentName(d.field)}: ${d.message}`);
    blocks.unshift(textBlock(`Invalid arguments; fix these and call the tool again:\n${lines.join('\n')}`));
  }
  return { content: blocks, isError: true };
}

/**
 * A fresh low-level Server bound to one principal. Over HTTP it lives for one request (stateless
 * Streamable HTTP needs a fresh server and transport per request); over stdio for the process.
 */
export function createToolServer(options: ToolServerOptions): Server {
  const serverInfo: Implementation = { name: 'autokestra', version: VERSION };
  const capabilities = { tools: { listChanged: false } };
  const server = new Server(serverInfo, { capabilities, instructions: INSTRUCTIONS });
  let clientInfo: Implementation | undefined;

  // Replaces the SDK's own initialize handler: it would also accept 2024-11-05 and 2024-10-07.
  server.setRequestHandler(InitializeRequestSchema, (request): InitializeResult => {
    clientInfo = request.params.clientInfo;
    const requested = request.params.protocolVersion;
    return {
      protocolVersion: MCP_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION,
      capabilities,
      serverInfo,
      instructions: INSTRUCTIONS,
    };
  });

  const principal = async (): Promise<Principal> => {
    if (typeof options.principal !== 'function') return options.principal;
    try {
      return await options.principal();
    } catch (error) {
      if (error instanceof EngineError) throw new McpError(ErrorCode.InvalidRequest, `${error.code}: ${error.message}`);
      throw error;
    }
  };

  server.setRequestHandler(ListToolsRequestSchema, async () => {
    const descriptors = await options.tools.listAll(await principal());
    return { tools: descriptors.map(toMcpTool) };
  });

  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const { name } = request.params;
    const progressToken = request.params._meta?.progressToken;
    const client = clientInfo ? `${clientInfo.name}/${clientInfo.version}` : (options.fallbackClient ?? null);
    const metaKey = request.params._meta?.[IDEMPOTENCY_META_KEY];
    if (metaKey !== undefined && (typeof metaKey !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(metaKey))) {
      throw new McpError(ErrorCode.InvalidParams, `_meta["${IDEMPOTENCY_META_KEY}"] must be 1-255 visible ASCII characters`);
    }
    const idempotencyKey = (metaKey as string | undefined) ?? options.idempotencyKey;
    const invocation: ToolInvocation = {
      inputs: request.params.arguments ?? {},
      transport: options.transport,
      client,
      signal: extra.signal,
      ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
    };
    if (progressToken !== undefined) {
      invocation.onProgress = (progress) => {
        // A client that went away cannot be told; the execution goes on regardless.
        extra.sendNotification({ method: 'notifications/progress', params: { progressToken, ...progress } }).catch(() => undefined);
      };
    }
    const caller = await principal();
    let result: ToolResult;
    try {
      result = await options.tools.invoke(name, invocation, caller);
    } catch (error) {
      // A tool the key cannot see is NOT_FOUND from the service; over MCP, "invalid params" (-32602).
      // (An execution a built-in cannot find is a NotFoundError too, but not this one: isError.)
      if (error instanceof ToolNotFoundError) throw new McpError(ErrorCode.InvalidParams, error.message, error.details);
      if (error instanceof EngineError) return errorToolResult(error);
      // Never the raw message: it may name internals. The log line carries no arguments.
      options.logger?.error({ err: error, tool: name, transport: options.transport }, 'MCP tools/call failed');
      throw new McpError(ErrorCode.InternalError, 'the tool call failed unexpectedly; the server log has the details');
    }
    return toCallToolResult(result);
  });

  return server;
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { createToolServer, MCP_PROTOCOL_VERSIONS, type ToolServerOptions } from './tool-server';

/** Does any message of the body ask for progress? Then the answer must be an SSE stream. */
export function wantsProgress(body: unknown): boolean {
  const messages = Array.isArray(body) ? body : [body];
  return messages.some((message) => {
    if (message === null || typeof message !== 'object') return false;
    const params = (message as { params?: { _meta?: { progressToken?: unknown } } }).params;
    return params?._meta?.progressToken !== undefined;
  });
}

function jsonRpcError(res: ServerResponse, status: number, code: number, message: string): void {
  const text = JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Answers one `POST /mcp` (stateless Streamable HTTP): a fresh Server and transport per request,
 * as the SDK requires without sessions (reusing one transport answers a bare 500). `body` is
 * the JSON the HTTP layer already parsed (the stream is consumed by then). The answer is plain
 * JSON, unless a message carries a progressToken: JSON mode drops notifications, so those get
 * an SSE stream carrying notifications/progress and then the result.
 */
export async function handleMcpPost(req: IncomingMessage, res: ServerResponse, body: unknown, options: ToolServerOptions): Promise<void> {
  const version = req.headers['mcp-protocol-version'];
  if (typeof version === 'string' && !MCP_PROTOCOL_VERSIONS.includes(version)) {
    return jsonRpcError(res, 400, ErrorCode.InvalidRequest, `Bad Request: unsupported MCP-Protocol-Version ${version} (supported: ${MCP_PROTOCOL_VERSIONS.join(', ')})`);
  }
  const server = createToolServer(options);
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: !wantsProgress(body) });
  // The client went away or the answer is complete: stop waiting (the execution itself goes on).
  res.on('close', () => {
    void transport.close().catch(() => undefined);
    void server.close().catch(() => undefined);
  });
  await server.connect(transport);
  // An empty body was parsed as undefined; null makes the SDK answer a JSON-RPC parse error
  // instead of reading the already consumed request stream.
  await transport.handleRequest(req, res, body === undefined ? null : body);
}

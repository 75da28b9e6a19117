import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createToolServer, type ToolServerOptions } from './tool-server';

/**
 * `autokestra mcp`: the tool server over stdin/stdout for a local agent. One server for the
 * whole process (the client's `initialize` is seen, so clientInfo reaches the audit trail).
 * Resolves when the client closes stdin (or the transport closes); stdout carries nothing but
 * protocol messages, so nothing else in the process may write there.
 */
export async function serveStdio(options: Omit<ToolServerOptions, 'transport'>, stdin: NodeJS.ReadableStream = process.stdin, stdout: NodeJS.WritableStream = process.stdout): Promise<void> {
  const server = createToolServer({ ...options, transport: 'stdio' });
  const transport = new StdioServerTransport(stdin as never, stdout as never);
  const closed = new Promise<void>((resolve) => {
    server.onclose = () => resolve();
  });
  // The SDK transport does not notice the end of stdin: the client closing it means "done".
  const end = () => void server.close().catch(() => undefined);
  stdin.once('end', end);
  stdin.once('close', end);
  await server.connect(transport);
  await closed;
}

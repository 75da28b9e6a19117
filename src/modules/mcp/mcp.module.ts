import { Module, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from '../../common/config/config.schema';
import { McpRequestPolicy } from '../../mcp/request-policy';
import { McpChallengeFilter } from './mcp-challenge.filter';
import { McpController, ProtectedResourceController } from './mcp.controller';
import { MCP_SETTINGS, type McpSettings } from './mcp.settings';

/** The MCP server over Streamable HTTP (`POST /mcp`) and its RFC 9728 metadata. */
@Module({})
export class McpModule {
  static register(config: AppConfig): DynamicModule {
    const settings: McpSettings = { publicUrl: config.mcp.publicUrl ?? null };
    return {
      module: McpModule,
      controllers: [McpController, ProtectedResourceController],
      providers: [{ provide: MCP_SETTINGS, useValue: settings }, McpChallengeFilter],
    };
  }
}

/** The DNS-rebinding check of `/mcp`, run by the server's onRequest hook (before authentication). */
export function mcpRequestPolicy(config: AppConfig): McpRequestPolicy {
  return new McpRequestPolicy({ allowedOrigins: config.mcp.allowedOrigins, allowedHosts: config.mcp.allowedHosts, listenHost: config.server.host });
}

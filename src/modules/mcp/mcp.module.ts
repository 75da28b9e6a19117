import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../../common/config/config.schema';
import { McpRequestPolicy } from '../../mcp/request-policy';
import { McpChallengeFilter } from './mcp-challenge.filter';
import { McpController, ProtectedResourceController } from './mcp.controller';
import { MCP_SETTINGS, type McpSettings } from './mcp.settings';

/** The MCP server over Streamable HTTP (`POST /mcp`) and its RFC 9728 metadata. */
@Module({
  controllers: [McpController, ProtectedResourceController],
  providers: [
    {
      provide: MCP_SETTINGS,
      useFactory: (config: ConfigService): McpSettings => ({ publicUrl: config.get<string | null>('mcp.publicUrl') ?? null }),
      inject: [ConfigService],
    },
    McpChallengeFilter,
  ],
})
export class McpModule {}

/** The DNS-rebinding check of `/mcp`, run by the server's onRequest hook (before authentication). */
export function mcpRequestPolicy(config: AppConfig): McpRequestPolicy {
  return new McpRequestPolicy({ allowedOrigins: config.mcp.allowedOrigins, allowedHosts: config.mcp.allowedHosts, listenHost: config.server.host });
}

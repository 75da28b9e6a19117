import { Controller, Delete, Get, Headers, Inject, Post, Req, Res, UseFilters } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Authenticated, CurrentPrincipal, Public } from '../../common/auth/decorators';
import type { Principal } from '../../common/auth/scopes';
import { ApiError } from '../../common/errors/api-error';
import { IdempotencyKey } from '../../common/http/trigger-options';
import { handleMcpPost } from '../../mcp/http';
import { baseUrlOf, MCP_SCOPE, protectedResourceMetadata, type ProtectedResourceMetadata } from '../../mcp/resource-metadata';
import { EngineProvider } from '../../common/engine.provider';
import { McpChallengeFilter } from './mcp-challenge.filter';
import { MCP_SETTINGS, type McpSettings } from './mcp.settings';

function methodNotAllowed(): ApiError {
  // Stateless server: no standalone SSE stream (GET) and no session to end (DELETE).
  return new ApiError('METHOD_NOT_ALLOWED', 'this MCP endpoint is stateless: send JSON-RPC messages with POST', undefined, { allow: 'POST' });
}

/**
 * `POST /mcp`: MCP Streamable HTTP, answered by the SDK transport on the raw request (the
 * DNS-rebinding check runs before this, in the server's onRequest hook). Not in the OpenAPI
 * document: it speaks JSON-RPC, not the REST API.
 */
@ApiExcludeController()
@UseFilters(McpChallengeFilter)
@Controller('mcp')
export class McpController {
  constructor(private readonly engine: EngineProvider) {}

  @Post()
  @Authenticated({ scopes: [MCP_SCOPE] })
  async post(@Req() request: FastifyRequest, @Res() reply: FastifyReply, @CurrentPrincipal() principal: Principal, @Headers('user-agent') userAgent: string | undefined, @IdempotencyKey() idempotencyKey: string | undefined): Promise<void> {
    // @IdempotencyKey() refuses a bad key (400, the error shape) before this runs, while the reply is still Nest's
    // Headers set so far (security headers, X-Request-Id, RateLimit-*) live on the Fastify
    // reply; after hijack only the raw response is written, so they move there first.
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value as string);
    reply.hijack();
    const engine = this.engine.engine;
    await handleMcpPost(request.raw, reply.raw, request.body, { tools: engine.tools, principal, transport: 'mcp', fallbackClient: userAgent ?? null, ...(idempotencyKey !== undefined ? { idempotencyKey } : {}), logger: engine.logger });
  }

  @Get()
  @Public()
  get(): never {
    throw methodNotAllowed();
  }

  @Delete()
  @Public()
  delete(): never {
    throw methodNotAllowed();
  }
}

/** RFC 9728 metadata: public, at the root and at the path-suffixed location clients try first. */
@ApiExcludeController()
@Public()
@Controller('.well-known/oauth-protected-resource')
export class ProtectedResourceController {
  constructor(@Inject(MCP_SETTINGS) private readonly settings: McpSettings) {}

  @Get()
  metadata(@Req() request: FastifyRequest): ProtectedResourceMetadata {
    return protectedResourceMetadata(baseUrlOf(this.settings.publicUrl, request.protocol, request.host));
  }

  @Get('mcp')
  metadataForMcp(@Req() request: FastifyRequest): ProtectedResourceMetadata {
    return this.metadata(request);
  }
}

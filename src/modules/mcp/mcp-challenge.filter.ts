import { Catch, Inject, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { mapError, sendError } from '../../common/errors/all-exceptions.filter';
import { baseUrlOf, insufficientScopeChallenge, missingCredentialsChallenge } from '../../mcp/resource-metadata';
import { MCP_SETTINGS, type McpSettings } from './mcp.settings';

/**
 * The service's one error shape for `/mcp` too, plus the challenge MCP clients look for: a 401
 * names the protected-resource metadata (RFC 9728), a 403 for a key without tools:invoke says
 * `insufficient_scope` (RFC 6750). The global guard raises both; this filter only adds headers.
 */
@Catch()
export class McpChallengeFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  constructor(@Inject(MCP_SETTINGS) private readonly settings: McpSettings) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const status = mapError(exception)?.status;
    if (status === 401 || status === 403) {
      const base = baseUrlOf(this.settings.publicUrl, request.protocol, request.host);
      reply.header('www-authenticate', status === 401 ? missingCredentialsChallenge(base) : insufficientScopeChallenge(base));
    }
    sendError(reply, request, exception, this.logger);
  }
}

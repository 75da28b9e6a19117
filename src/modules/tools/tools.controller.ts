import { Body, Controller, Get, Headers, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBody, ApiExtraModels, ApiOperation, ApiParam, ApiResponse, ApiTags, getSchemaPath } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Authenticated, CurrentPrincipal } from '../../common/auth/decorators';
import type { Principal } from '../../common/auth/scopes';
import { ApiErrors, ApiIdempotencyKeyHeader, ApiOk } from '../../common/http/openapi';
import { IdempotencyKey } from '../../common/http/trigger-options';
import { pageOf } from '../../common/http/validation';
import type { ToolResult } from '../../engine/tools/types';
import { EngineProvider } from '../../common/engine.provider';
import { BuiltInResultDto, DryRunResultDto, InvokeToolDto, ToolCallResultDto, ToolDto, ToolListQueryDto, ToolPageDto } from './tools.dto';

/** The HTTP answer of an invocation: 202 while the execution still runs, 200 otherwise. */
function present(result: ToolResult): { status: number; body: ToolCallResultDto | DryRunResultDto | BuiltInResultDto } {
  switch (result.kind) {
    case 'execution': {
      const { executionId, status, outputs, error, durationMs } = result;
      return { status: result.finished ? 200 : 202, body: { executionId, status, outputs, error: error as ToolCallResultDto['error'], durationMs } };
    }
    case 'dry_run':
      return { status: 200, body: { status: result.status, inputs: result.inputs, plan: result.plan } };
    case 'value':
      return { status: 200, body: { status: 'OK', result: result.value } };
  }
}

@ApiTags('tools')
@ApiExtraModels(ToolCallResultDto, DryRunResultDto, BuiltInResultDto)
@Controller('api/v1/tools')
export class ToolsController {
  constructor(private readonly engine: EngineProvider) {}

  @Get()
  @Authenticated({ scopes: ['tools:invoke'] })
  @ApiOperation({ operationId: 'listTools', summary: 'The tools this key may use: built-ins it holds scopes for, then workflow tools in its namespaces, by name' })
  @ApiOk(ToolPageDto)
  @ApiErrors(400)
  async list(@Query() query: ToolListQueryDto, @CurrentPrincipal() principal: Principal): Promise<ToolPageDto> {
    const page = await this.engine.engine.tools.list(principal, query);
    return pageOf(query, page, ToolDto.from);
  }

  @Get(':name')
  @Authenticated({ scopes: ['tools:invoke'] })
  @ApiOperation({ operationId: 'getTool', summary: 'One tool; 404 NOT_FOUND with details.suggestions (nearest visible names)' })
  @ApiOk(ToolDto)
  @ApiErrors(404)
  async describe(@Param('name') name: string, @CurrentPrincipal() principal: Principal): Promise<ToolDto> {
    return ToolDto.from(await this.engine.engine.tools.describe(name, principal));
  }

  // Any valid key reaches the handler: the service checks tools:invoke itself so that a denied
  // call is audited as a `tool.invoke` like every other one.
  @Post(':name')
  @Authenticated()
  @ApiOperation({ operationId: 'invokeTool', summary: "Call a tool: 200 when it ended within its wait, 202 while it still runs; dryRun validates and plans only" })
  @ApiParam({ name: 'name', schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } })
  @ApiIdempotencyKeyHeader('same key + same arguments returns the first execution (kept >= 24 h)')
  @ApiBody({ type: InvokeToolDto, required: false, description: 'optional: no body is no arguments and the default wait' })
  @ApiResponse({
    status: 200,
    description: 'ended within the wait (ToolCallResult), dry run (DryRunResult) or a built-in tool (BuiltInResult)',
    schema: { oneOf: [ToolCallResultDto, DryRunResultDto, BuiltInResultDto].map((dto) => ({ $ref: getSchemaPath(dto) })) },
  })
  @ApiOk(ToolCallResultDto, 202, 'still running when the wait ran out: follow executionId')
  @ApiErrors('VALIDATION_ERROR', 'INVALID_INPUTS', 403, 404, 'WORKFLOW_DISABLED', 'IDEMPOTENCY_KEY_REUSED', 'EXECUTION_FINISHED', 413, 415)
  async invoke(
    @Param('name') name: string,
    @Body() body: InvokeToolDto,
    @IdempotencyKey() idempotencyKey: string | undefined,
    @Headers('user-agent') userAgent: string | undefined,
    @CurrentPrincipal() principal: Principal,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ToolCallResultDto | DryRunResultDto | BuiltInResultDto> {
    // A client that hangs up stops the wait (the execution itself keeps running).
    const gone = new AbortController();
    reply.raw.once('close', () => gone.abort());
    const result = await this.engine.engine.tools.invoke(
      name,
      { inputs: body.inputs, dryRun: body.dryRun, waitMs: body.wait, idempotencyKey, transport: 'rest', client: userAgent ?? null, signal: gone.signal },
      principal,
    );
    const { status, body: answer } = present(result);
    reply.status(status);
    return answer;
  }
}

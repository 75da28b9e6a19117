import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CurrentPrincipal, RequireScopes } from '../../common/auth/decorators';
import type { Principal } from '../../common/auth/scopes';
import { ApiError } from '../../common/errors/api-error';
import { ApiErrors, ApiIdempotencyKeyHeader, ApiOk, ApiWorkflowIdParam } from '../../common/http/openapi';
import { assertIdempotencyKey, parseWaitMs } from '../../common/http/trigger-options';
import { TERMINAL_STATES } from '../../engine/execution-state';
import { assertWorkflowId } from '../../engine/workflows';
import { EngineProvider } from '../../common/engine.provider';
import { ExecutionDto, ExecutionListQueryDto, ExecutionPageDto, TriggerExecutionDto, TriggerQueryDto } from './executions.dto';

const MAX_WAIT_MS = 60_000;

function validateLabels(labels: Record<string, unknown> | undefined): void {
  if (!labels) return;
  const entries = Object.entries(labels);
  const bad = entries.filter(([k, v]) => typeof v !== 'string' || k.length > 100 || (v as string).length > 1000);
  if (entries.length > 50 || bad.length) {
    throw new ApiError('VALIDATION_ERROR', 'labels must be an object of at most 50 string values (keys <= 100 chars, values <= 1000)', [
      { field: 'labels', message: 'must map names to strings' },
    ]);
  }
}

@ApiTags('executions')
@Controller('api/v1')
export class ExecutionsController {
  constructor(private readonly engine: EngineProvider) {}

  @Post('workflows/:id/executions')
  @RequireScopes('executions:write')
  @ApiOperation({ operationId: 'triggerExecution', summary: 'Trigger an execution: 202 QUEUED; with ?wait, 200 once it ended in time' })
  @ApiWorkflowIdParam()
  @ApiIdempotencyKeyHeader('same key + same body returns the first execution (kept >= 24 h)')
  @ApiBody({ type: TriggerExecutionDto, required: false, description: 'optional: no body is no inputs and no labels' })
  @ApiOk(ExecutionDto, 202, 'queued (or still running after ?wait)')
  @ApiOk(ExecutionDto, 200, 'idempotent replay, or finished within ?wait')
  @ApiErrors('VALIDATION_ERROR', 'INVALID_INPUTS', 401, 403, 404, 'WORKFLOW_DISABLED', 'IDEMPOTENCY_KEY_REUSED', 413, 415)
  async trigger(
    @Param('id') workflowId: string,
    @Body() body: TriggerExecutionDto,
    @Query() query: TriggerQueryDto,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @CurrentPrincipal() principal: Principal,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ExecutionDto> {
    assertWorkflowId(workflowId);
    const waitMs = parseWaitMs(query.wait, MAX_WAIT_MS);
    assertIdempotencyKey(idempotencyKey);
    validateLabels(body?.labels);
    const { execution, created } = await this.engine.engine.executions.trigger(
      workflowId,
      { inputs: body?.inputs, labels: body?.labels, idempotencyKey },
      principal,
    );
    let result = execution;
    if (waitMs !== null && !TERMINAL_STATES.has(result.state)) {
      result = await this.engine.engine.executions.wait(execution.id, waitMs);
    }
    reply.status(!created || TERMINAL_STATES.has(result.state) && waitMs !== null ? 200 : 202);
    return ExecutionDto.from(result);
  }

  @Get('executions')
  @RequireScopes('executions:read')
  @ApiOperation({ operationId: 'listExecutions', summary: 'List executions, newest first (task runs omitted)' })
  @ApiOk(ExecutionPageDto)
  @ApiErrors(400, 401, 403)
  async list(@Query() query: ExecutionListQueryDto, @CurrentPrincipal() principal: Principal): Promise<ExecutionPageDto> {
    const limit = query.limit ?? 50;
    const offset = query.offset ?? 0;
    const page = await this.engine.engine.executions.list(
      { limit, offset, workflowId: query.workflowId, namespace: query.namespace, state: query.state },
      principal,
    );
    return { items: page.items.map((e) => ExecutionDto.from(e)), limit, offset, hasMore: page.hasMore };
  }

  @Get('executions/:id')
  @RequireScopes('executions:read')
  @ApiOperation({ operationId: 'getExecution', summary: 'Inspect an execution: state, inputs, outputs, error, timeline, task runs with attempts' })
  @ApiOk(ExecutionDto)
  @ApiErrors(401, 403, 404)
  async get(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<ExecutionDto> {
    const { execution, taskRuns } = await this.engine.engine.executions.get(id, principal);
    return ExecutionDto.from(execution, taskRuns);
  }

  @Post('executions/:id/cancel')
  @HttpCode(202)
  @RequireScopes('executions:write')
  @ApiOperation({ operationId: 'cancelExecution', summary: 'Cancel: QUEUED ends CANCELLED at once; RUNNING goes CANCELLING then CANCELLED' })
  @ApiOk(ExecutionDto, 202)
  @ApiErrors(401, 403, 404, 'EXECUTION_FINISHED')
  async cancel(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<ExecutionDto> {
    return ExecutionDto.from(await this.engine.engine.executions.cancel(id, principal));
  }
}

import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Authenticated, CurrentPrincipal } from '../../common/auth/decorators';
import type { Principal } from '../../common/auth/scopes';
import { DirectRoute } from '../../common/http/direct-routes';
import { ApiErrors, ApiIdempotencyKeyHeader, ApiOk, ApiWorkflowIdParam } from '../../common/http/openapi';
import { WorkflowIdPipe } from '../../common/http/pipes';
import { IdempotencyKey } from '../../common/http/trigger-options';
import { pageOf } from '../../common/http/validation';
import { EngineProvider } from '../../common/engine.provider';
import { ExecutionDto, ExecutionListQueryDto, ExecutionPageDto, TriggerExecutionDto, TriggerQueryDto } from './executions.dto';

@ApiTags('executions')
@Controller('api/v1')
export class ExecutionsController {
  constructor(private readonly engine: EngineProvider) {}

  @Post('workflows/:id/executions')
  @Authenticated({ scopes: ['executions:write'] })
  @ApiOperation({ operationId: 'triggerExecution', summary: 'Trigger an execution: 202 QUEUED; with ?wait, 200 once it ended in time' })
  @ApiWorkflowIdParam()
  @ApiIdempotencyKeyHeader('same key + same body returns the first execution (kept >= 24 h)')
  @ApiBody({ type: TriggerExecutionDto, required: false, description: 'optional: no body is no inputs and no labels' })
  @ApiOk(ExecutionDto, 202, 'queued (or still running after ?wait)')
  @ApiOk(ExecutionDto, 200, 'idempotent replay, or finished within ?wait')
  @ApiErrors('VALIDATION_ERROR', 'INVALID_INPUTS', 404, 'WORKFLOW_DISABLED', 'IDEMPOTENCY_KEY_REUSED', 413, 415)
  async trigger(
    @Param('id', WorkflowIdPipe) workflowId: string,
    @Body() body: TriggerExecutionDto,
    @Query() query: TriggerQueryDto,
    @IdempotencyKey() idempotencyKey: string | undefined,
    @CurrentPrincipal() principal: Principal,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ExecutionDto> {
    const { execution, settled } = await this.engine.engine.executions.triggerAndWait(workflowId, { inputs: body.inputs, labels: body.labels, idempotencyKey }, query.wait, principal);
    reply.status(settled ? 200 : 202);
    return ExecutionDto.from(execution);
  }

  @Get('executions')
  @Authenticated({ scopes: ['executions:read'] })
  @ApiOperation({ operationId: 'listExecutions', summary: 'List executions, newest first (task runs omitted)' })
  @ApiOk(ExecutionPageDto)
  @ApiErrors(400)
  async list(@Query() query: ExecutionListQueryDto, @CurrentPrincipal() principal: Principal): Promise<ExecutionPageDto> {
    const page = await this.engine.engine.executions.list(query, principal);
    return pageOf(query, page, (execution) => ExecutionDto.from(execution));
  }

  @Get('executions/:id')
  @DirectRoute<ExecutionsController>((c, request, principal) => c.get((request.params as { id: string }).id, principal))
  @Authenticated({ scopes: ['executions:read'] })
  @ApiOperation({ operationId: 'getExecution', summary: 'Inspect an execution: state, inputs, outputs, error, timeline, task runs with attempts' })
  @ApiOk(ExecutionDto)
  @ApiErrors(404)
  async get(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<ExecutionDto> {
    const { execution, taskRuns } = await this.engine.engine.executions.get(id, principal);
    return ExecutionDto.from(execution, taskRuns);
  }

  @Post('executions/:id/cancel')
  @HttpCode(202)
  @Authenticated({ scopes: ['executions:write'] })
  @ApiOperation({ operationId: 'cancelExecution', summary: 'Cancel: QUEUED ends CANCELLED at once; RUNNING goes CANCELLING then CANCELLED' })
  @ApiOk(ExecutionDto, 202)
  @ApiErrors(404, 'EXECUTION_FINISHED')
  async cancel(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<ExecutionDto> {
    return ExecutionDto.from(await this.engine.engine.executions.cancel(id, principal));
  }
}

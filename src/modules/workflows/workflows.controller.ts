import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Put, Query, Res } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Authenticated, CurrentPrincipal } from '../../common/auth/decorators';
import type { Principal } from '../../common/auth/scopes';
import { Consumes } from '../../common/http/content-type.guard';
import { DirectRoute } from '../../common/http/direct-routes';
import { ApiErrors, ApiOk, ApiWorkflowIdParam } from '../../common/http/openapi';
import { WorkflowIdPipe } from '../../common/http/pipes';
import { pageOf } from '../../common/http/validation';
import { EngineProvider } from '../../common/engine.provider';
import { WorkflowDto, WorkflowListQueryDto, WorkflowPageDto, WorkflowPatchDto, WorkflowSummaryDto } from './workflows.dto';

const YAML_TYPES = ['application/yaml', 'text/yaml', 'application/x-yaml'];

@ApiTags('workflows')
@Controller('api/v1/workflows')
export class WorkflowsController {
  constructor(private readonly engine: EngineProvider) {}

  @Get()
  @Authenticated({ scopes: ['workflows:read'] })
  @ApiOperation({ operationId: 'listWorkflows', summary: 'List workflows, newest first' })
  @ApiOk(WorkflowPageDto)
  @ApiErrors(400)
  async list(@Query() query: WorkflowListQueryDto, @CurrentPrincipal() principal: Principal): Promise<WorkflowPageDto> {
    const page = await this.engine.workflows.list(query, principal);
    return pageOf(query, page, WorkflowSummaryDto.from);
  }

  @Get(':id')
  @DirectRoute<WorkflowsController>((c, request, principal, reply) => c.get((request.params as { id: string }).id, principal, reply))
  @ApiWorkflowIdParam()
  @Authenticated({ scopes: ['workflows:read'] })
  @ApiOperation({ operationId: 'getWorkflow', summary: 'Get a workflow: normalized definition, YAML source, revision' })
  @ApiOk(WorkflowDto)
  @ApiErrors(400, 404)
  // no WorkflowIdPipe: a direct route runs no pipes; the engine checks the id (same 400)
  async get(@Param('id') id: string, @CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    const workflow = await this.engine.workflows.get(id, principal);
    reply.type('application/json; charset=utf-8');
    return WorkflowDto.json(workflow);
  }

  @Put(':id')
  @ApiWorkflowIdParam()
  @Authenticated({ scopes: ['workflows:write'] })
  @Consumes(...YAML_TYPES)
  @ApiOperation({ operationId: 'applyWorkflow', summary: 'Apply a workflow from YAML: 201 when created, 200 when updated (revision + 1)' })
  @ApiConsumes('application/yaml', 'text/yaml')
  @ApiBody({ description: 'the workflow YAML text (DSL v1), not a JSON string: send it as is with Content-Type application/yaml', schema: { type: 'string' } })
  @ApiOk(WorkflowDto, 200, 'updated')
  @ApiOk(WorkflowDto, 201, 'created')
  @ApiErrors('VALIDATION_ERROR', 'INVALID_WORKFLOW', 'WORKFLOW_ID_MISMATCH', 404, 413, 415)
  async apply(
    @Param('id', WorkflowIdPipe) id: string,
    @Body() source: unknown,
    @CurrentPrincipal() principal: Principal,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    const { workflow, created } = await this.engine.workflows.apply(typeof source === 'string' ? source : '', id, principal);
    reply.status(created ? 201 : 200).type('application/json; charset=utf-8');
    return WorkflowDto.json(workflow);
  }

  @Patch(':id')
  @ApiWorkflowIdParam()
  @Authenticated({ scopes: ['workflows:write'] })
  @ApiOperation({ operationId: 'setWorkflowEnabled', summary: 'Enable or disable a workflow' })
  @ApiOk(WorkflowDto)
  @ApiErrors(400, 404, 415)
  async patch(@Param('id', WorkflowIdPipe) id: string, @Body() body: WorkflowPatchDto, @CurrentPrincipal() principal: Principal): Promise<WorkflowDto> {
    return WorkflowDto.fromRecord(await this.engine.workflows.setEnabled(id, body.enabled, principal));
  }

  @Delete(':id')
  @ApiWorkflowIdParam()
  @HttpCode(204)
  @Authenticated({ scopes: ['workflows:write'] })
  @ApiOperation({ operationId: 'deleteWorkflow', summary: 'Delete a workflow (its execution history is kept)' })
  @ApiResponse({ status: 204, description: 'deleted' })
  @ApiErrors(400, 404)
  async remove(@Param('id', WorkflowIdPipe) id: string, @CurrentPrincipal() principal: Principal): Promise<void> {
    await this.engine.workflows.delete(id, principal);
  }
}

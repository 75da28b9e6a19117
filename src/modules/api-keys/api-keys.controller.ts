import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Authenticated, CurrentPrincipal } from '../../common/auth/decorators';
import type { Principal } from '../../common/auth/scopes';
import { ApiErrors, ApiOk } from '../../common/http/openapi';
import { pageOf, PageQueryDto } from '../../common/http/validation';
import { EngineProvider } from '../../common/engine.provider';
import { ApiKeyDto, ApiKeyPageDto, CreateApiKeyDto, CreatedApiKeyDto, ExistingApiKeyDto, RotateApiKeyDto, RotatedApiKeyDto, UpdateApiKeyDto } from './api-keys.dto';

@ApiTags('api-keys')
@Authenticated({ scopes: ['api-keys:manage'] })
@Controller('api/v1/api-keys')
export class ApiKeysController {
  constructor(private readonly engine: EngineProvider) {}

  @Post()
  @ApiOperation({ operationId: 'createApiKey', summary: 'Create a key: 201 with the plaintext `key` (shown once); idempotent + taken label → 200 without it' })
  @ApiOk(CreatedApiKeyDto, 201, 'created')
  @ApiOk(ExistingApiKeyDto, 200, 'idempotent: the existing key, no plaintext')
  @ApiErrors(400, 409, 415)
  async create(@Body() body: CreateApiKeyDto, @CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) reply: FastifyReply): Promise<ExistingApiKeyDto | CreatedApiKeyDto> {
    const { created, key, plaintext } = await this.engine.engine.apiKeys.create(principal, body);
    reply.header('cache-control', 'no-store');
    reply.status(created ? 201 : 200);
    return created ? { ...ApiKeyDto.from(key), created: true, key: plaintext! } : { ...ApiKeyDto.from(key), created: false };
  }

  @Get()
  @ApiOperation({ operationId: 'listApiKeys', summary: 'List keys, newest first (never a hash or plaintext)' })
  @ApiOk(ApiKeyPageDto)
  @ApiErrors(400)
  async list(@Query() query: PageQueryDto, @CurrentPrincipal() principal: Principal): Promise<ApiKeyPageDto> {
    const page = await this.engine.engine.apiKeys.list(principal, query.limit, query.offset);
    return pageOf(query, page, ApiKeyDto.from);
  }

  @Get(':id')
  @ApiOperation({ operationId: 'getApiKey', summary: 'Get one key (a key outside your scopes or namespaces is 404, like a missing one)' })
  @ApiOk(ApiKeyDto)
  @ApiErrors(404)
  async get(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<ApiKeyDto> {
    return ApiKeyDto.from(await this.engine.engine.apiKeys.get(principal, id));
  }

  @Patch(':id')
  @ApiOperation({ operationId: 'updateApiKey', summary: 'Update label, enabled, scopes, namespaces, expiresAt, rateLimit (null clears); a key outside your authority is 404 like a missing one' })
  @ApiOk(ApiKeyDto)
  @ApiErrors(400, 404, 409, 415)
  async update(@Param('id') id: string, @Body() body: UpdateApiKeyDto, @CurrentPrincipal() principal: Principal): Promise<ApiKeyDto> {
    return ApiKeyDto.from(await this.engine.engine.apiKeys.update(principal, id, body));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ operationId: 'revokeApiKey', summary: 'Revoke a key (the row is kept for the audit trail)' })
  @ApiResponse({ status: 204, description: 'revoked' })
  @ApiErrors(404)
  async revoke(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<void> {
    await this.engine.engine.apiKeys.revoke(principal, id);
  }

  @Post(':id/rotate')
  @ApiOperation({ operationId: 'rotateApiKey', summary: 'Rotate: a new plaintext `key`; the old one keeps working for graceSeconds' })
  @ApiBody({ type: RotateApiKeyDto, required: false, description: 'optional: no body rotates with no grace period' })
  @ApiOk(RotatedApiKeyDto, 201, 'rotated')
  @ApiErrors(400, 404, 409, 415)
  async rotate(
    @Param('id') id: string,
    @Body() body: RotateApiKeyDto,
    @CurrentPrincipal() principal: Principal,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<RotatedApiKeyDto> {
    const { key, plaintext } = await this.engine.engine.apiKeys.rotate(principal, id, body.graceSeconds);
    reply.header('cache-control', 'no-store');
    reply.status(201);
    return { ...ApiKeyDto.from(key), key: plaintext };
  }
}

import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CurrentPrincipal, RequireScopes } from '../../common/auth/decorators';
import type { Principal } from '../../common/auth/scopes';
import { ApiErrors, ApiOk } from '../../common/http/openapi';
import { PageQueryDto } from '../../common/http/validation';
import { parseZonedDateTime } from '../../engine/dsl/datetime';
import { EngineProvider } from '../../common/engine.provider';
import { ApiKeyDto, ApiKeyPageDto, CreateApiKeyDto, CreatedApiKeyDto, ExistingApiKeyDto, RotateApiKeyDto, RotatedApiKeyDto, UpdateApiKeyDto } from './api-keys.dto';

// Validated by @IsZonedDateTime: parsed by the same rule (Date.parse would misread some valid forms).
const dateOrNull = (value: string | null | undefined) => (value === undefined ? undefined : value === null ? null : (parseZonedDateTime(value) ?? Number.NaN));

@ApiTags('api-keys')
@RequireScopes('api-keys:manage')
@Controller('api/v1/api-keys')
export class ApiKeysController {
  constructor(private readonly engine: EngineProvider) {}

  @Post()
  @ApiOperation({ operationId: 'createApiKey', summary: 'Create a key: 201 with the plaintext `key` (shown once); idempotent + taken label → 200 without it' })
  @ApiOk(CreatedApiKeyDto, 201, 'created')
  @ApiOk(ExistingApiKeyDto, 200, 'idempotent: the existing key, no plaintext')
  @ApiErrors(400, 401, 403, 409, 415)
  async create(@Body() body: CreateApiKeyDto, @CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) reply: FastifyReply): Promise<ExistingApiKeyDto | CreatedApiKeyDto> {
    const { created, key, plaintext } = await this.engine.engine.apiKeys.create(principal, {
      label: body.label,
      scopes: body.scopes,
      namespaces: body.namespaces,
      expiresAt: dateOrNull(body.expiresAt),
      rateLimit: body.rateLimit,
      idempotent: body.idempotent,
    });
    reply.header('cache-control', 'no-store');
    reply.status(created ? 201 : 200);
    return created ? { ...ApiKeyDto.from(key), created: true, key: plaintext! } : { ...ApiKeyDto.from(key), created: false };
  }

  @Get()
  @ApiOperation({ operationId: 'listApiKeys', summary: 'List keys, newest first (never a hash or plaintext)' })
  @ApiOk(ApiKeyPageDto)
  @ApiErrors(400, 401, 403)
  async list(@Query() query: PageQueryDto, @CurrentPrincipal() principal: Principal): Promise<ApiKeyPageDto> {
    const limit = query.limit ?? 50;
    const offset = query.offset ?? 0;
    const page = await this.engine.engine.apiKeys.list(principal, limit, offset);
    return { items: page.items.map(ApiKeyDto.from), limit, offset, hasMore: page.hasMore };
  }

  @Get(':id')
  @ApiOperation({ operationId: 'getApiKey', summary: 'Get one key (a key outside your scopes or namespaces is 404, like a missing one)' })
  @ApiOk(ApiKeyDto)
  @ApiErrors(401, 403, 404)
  async get(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<ApiKeyDto> {
    return ApiKeyDto.from(await this.engine.engine.apiKeys.get(principal, id));
  }

  @Patch(':id')
  @ApiOperation({ operationId: 'updateApiKey', summary: 'Update label, enabled, scopes, namespaces, expiresAt, rateLimit (null clears); a key outside your authority is 404 like a missing one' })
  @ApiOk(ApiKeyDto)
  @ApiErrors(400, 401, 403, 404, 409, 415)
  async update(@Param('id') id: string, @Body() body: UpdateApiKeyDto, @CurrentPrincipal() principal: Principal): Promise<ApiKeyDto> {
    const key = await this.engine.engine.apiKeys.update(principal, id, {
      label: body.label,
      enabled: body.enabled,
      scopes: body.scopes,
      namespaces: body.namespaces,
      expiresAt: dateOrNull(body.expiresAt),
      rateLimit: body.rateLimit,
    });
    return ApiKeyDto.from(key);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ operationId: 'revokeApiKey', summary: 'Revoke a key (the row is kept for the audit trail)' })
  @ApiResponse({ status: 204, description: 'revoked' })
  @ApiErrors(401, 403, 404)
  async revoke(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<void> {
    await this.engine.engine.apiKeys.revoke(principal, id);
  }

  @Post(':id/rotate')
  @ApiOperation({ operationId: 'rotateApiKey', summary: 'Rotate: a new plaintext `key`; the old one keeps working for graceSeconds' })
  @ApiBody({ type: RotateApiKeyDto, required: false, description: 'optional: no body rotates with no grace period' })
  @ApiOk(RotatedApiKeyDto, 201, 'rotated')
  @ApiErrors(400, 401, 403, 404, 409, 415)
  async rotate(
    @Param('id') id: string,
    @Body() body: RotateApiKeyDto,
    @CurrentPrincipal() principal: Principal,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<RotatedApiKeyDto> {
    const { key, plaintext } = await this.engine.engine.apiKeys.rotate(principal, id, body?.graceSeconds ?? 0);
    reply.header('cache-control', 'no-store');
    reply.status(201);
    return { ...ApiKeyDto.from(key), key: plaintext };
  }
}

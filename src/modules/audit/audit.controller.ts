import { Controller, Get, Query } from '@nestjs/common';
import { ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { CurrentPrincipal, RequireScopes } from '../../common/auth/decorators';
import type { Principal } from '../../common/auth/scopes';
import { ApiErrors, ApiOk } from '../../common/http/openapi';
import { IsZonedDateTime, PageQueryDto, toIso, PageOf, type PageDto } from '../../common/http/validation';
import { parseZonedDateTime } from '../../engine/dsl/datetime';
import { EngineProvider } from '../../common/engine.provider';

export class AuditQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ description: 'e.g. auth.failure, api_key.create, workflow.apply, execution.trigger' })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  action?: string;

  @ApiPropertyOptional({ description: "key prefix, 'static' or 'cli'" })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  actor?: string;

  @ApiPropertyOptional({ format: 'date-time' })
  @IsOptional()
  @IsZonedDateTime({ message: 'since must be an ISO-8601 date-time with a time zone (e.g. 2026-01-31T00:00:00Z)' })
  since?: string;
}

export class AuditEventDto {
  @ApiProperty() id: string;
  @ApiProperty({ format: 'date-time' }) at: string;
  @ApiProperty() actor: string;
  @ApiProperty() action: string;
  @ApiProperty({ nullable: true, type: String }) resourceType: string | null;
  @ApiProperty({ nullable: true, type: String }) resourceId: string | null;
  @ApiProperty({ nullable: true, type: String }) namespace: string | null;
  @ApiProperty({ enum: ['success', 'failure', 'denied'] }) outcome: string;
  @ApiProperty({ nullable: true, type: String }) ip: string | null;
  @ApiProperty({ nullable: true, type: 'object', additionalProperties: true }) details: Record<string, unknown> | null;
}

export const AuditPageDto = PageOf(AuditEventDto, 'AuditPageDto');
export type AuditPageDto = PageDto<AuditEventDto>;

@ApiTags('audit')
@Controller('api/v1/audit')
export class AuditController {
  constructor(private readonly engine: EngineProvider) {}

  @Get()
  @RequireScopes('audit:read')
  @ApiOperation({ operationId: 'listAuditEvents', summary: 'Audit trail, newest first' })
  @ApiOk(AuditPageDto)
  @ApiErrors(400, 401, 403)
  async list(@Query() query: AuditQueryDto, @CurrentPrincipal() principal: Principal): Promise<AuditPageDto> {
    const limit = query.limit ?? 50;
    const offset = query.offset ?? 0;
    const page = await this.engine.engine.audit.query({ limit, offset, action: query.action, actor: query.actor, since: query.since ? (parseZonedDateTime(query.since) ?? undefined) : undefined, namespaces: principal.namespaces });
    return { items: page.items.map((e) => ({ ...e, at: toIso(e.at)! })), limit, offset, hasMore: page.hasMore };
  }
}

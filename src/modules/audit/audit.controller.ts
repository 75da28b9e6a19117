import { Controller, Get, Query } from '@nestjs/common';
import { ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { Authenticated, CurrentPrincipal } from '../../common/auth/decorators';
import type { Principal } from '../../common/auth/scopes';
import { ApiErrors, ApiOk } from '../../common/http/openapi';
import { IsZonedDateTime, PageQueryDto, Parsed, toIso, PageOf, pageOf, zonedDateTimeMs, type PageDto } from '../../common/http/validation';
import type { AuditEvent } from '../../engine/store/sql-access-store';
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

  /** sent as a date-time, received in epoch ms */
  @ApiPropertyOptional({ type: String, format: 'date-time' })
  @IsOptional()
  @IsZonedDateTime({ message: 'since must be an ISO-8601 date-time with a time zone (e.g. 2026-01-31T00:00:00Z)' })
  @Parsed(zonedDateTimeMs)
  since?: number;
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

  static from(event: AuditEvent): AuditEventDto {
    return { ...event, at: toIso(event.at)! };
  }
}

export const AuditPageDto = PageOf(AuditEventDto, 'AuditPageDto');
export type AuditPageDto = PageDto<AuditEventDto>;

@ApiTags('audit')
@Controller('api/v1/audit')
export class AuditController {
  constructor(private readonly engine: EngineProvider) {}

  @Get()
  @Authenticated({ scopes: ['audit:read'] })
  @ApiOperation({ operationId: 'listAuditEvents', summary: 'Audit trail, newest first' })
  @ApiOk(AuditPageDto)
  @ApiErrors(400)
  async list(@Query() query: AuditQueryDto, @CurrentPrincipal() principal: Principal): Promise<AuditPageDto> {
    const page = await this.engine.engine.audit.query({ ...query, namespaces: principal.namespaces });
    return pageOf(query, page, AuditEventDto.from);
  }
}

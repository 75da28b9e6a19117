import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { CurrentPrincipal, RequireScopes } from '../../common/auth/decorators';
import type { Principal } from '../../common/auth/scopes';
import { ApiError } from '../../common/errors/api-error';
import { ApiErrors, ApiOk } from '../../common/http/openapi';
import { DecimalInteger, toIso, PageOf, type PageDto } from '../../common/http/validation';
import type { LogLevelName } from '../../engine/store/execution-types';
import { EngineProvider } from '../engine/engine.provider';

const LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'];

export class LogQueryDto {
  @ApiPropertyOptional({ type: 'integer', default: 100, minimum: 1, maximum: 1000 })
  @IsOptional()
  @DecimalInteger()
  @IsInt({ message: 'limit must be an integer between 1 and 1000, in decimal digits' })
  @Min(1, { message: 'limit must be an integer between 1 and 1000, in decimal digits' })
  @Max(1000, { message: 'limit must be an integer between 1 and 1000, in decimal digits' })
  limit?: number;

  @ApiPropertyOptional({ type: 'integer', default: 0, minimum: 0 })
  @IsOptional()
  @DecimalInteger()
  @IsInt({ message: 'offset must be a non-negative integer, in decimal digits' })
  @Min(0, { message: 'offset must be a non-negative integer, in decimal digits' })
  offset?: number;

  @ApiPropertyOptional({ enum: LEVELS, description: 'minimum level: DEBUG < INFO < WARN < ERROR' })
  @IsOptional()
  @IsIn([...LEVELS, ...LEVELS.map((l) => l.toLowerCase())], { message: `level must be one of ${LEVELS.join(', ')}` })
  level?: string;

  @ApiPropertyOptional({ maxLength: 100 }) @IsOptional() @IsString() @MaxLength(100) taskId?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 0, description: 'only lines older than this log id (stable backwards paging)' })
  @IsOptional()
  @DecimalInteger()
  @IsInt({ message: 'before must be a log id (an integer in decimal digits)' })
  @Min(0, { message: 'before must be a log id (an integer in decimal digits)' })
  before?: number;

  @ApiPropertyOptional({ type: 'integer', minimum: 0, description: 'only lines newer than this log id (tail polling: the oldest `limit` of them, sorted newest first)' })
  @IsOptional()
  @DecimalInteger()
  @IsInt({ message: 'after must be a log id (an integer in decimal digits)' })
  @Min(0, { message: 'after must be a log id (an integer in decimal digits)' })
  after?: number;
}

export class LogLineDto {
  @ApiProperty({ type: 'integer', minimum: 1, description: 'increasing per execution: the cursor of before/after and the SSE event id' }) id: number;
  @ApiProperty({ format: 'date-time' }) ts: string;
  @ApiProperty({ enum: LEVELS }) level: string;
  @ApiProperty({ nullable: true, type: String }) taskId: string | null;
  @ApiProperty({ nullable: true, type: String }) taskRunId: string | null;
  @ApiProperty({ nullable: true, type: 'integer', minimum: 1 }) attempt: number | null;
  @ApiProperty() message: string;
}

export const LogPageDto = PageOf(LogLineDto, 'LogPageDto');
export type LogPageDto = PageDto<LogLineDto>;

@ApiTags('logs')
@Controller('api/v1/executions')
export class LogsController {
  constructor(private readonly engine: EngineProvider) {}

  @Get(':id/logs')
  @RequireScopes('logs:read')
  @ApiOperation({ operationId: 'listExecutionLogs', summary: 'Execution logs, newest first; page with before=<id>, tail with after=<id>' })
  @ApiOk(LogPageDto)
  @ApiErrors(400, 401, 403, 404)
  async logs(@Param('id') id: string, @Query() query: LogQueryDto, @CurrentPrincipal() principal: Principal): Promise<LogPageDto> {
    if (query.before !== undefined && query.after !== undefined) {
      throw new ApiError('VALIDATION_ERROR', 'use either before or after, not both', [{ field: 'after', message: 'cannot be combined with before' }]);
    }
    const limit = query.limit ?? 100;
    const offset = query.offset ?? 0;
    const page = await this.engine.engine.executions.logs(
      id,
      { limit, offset, level: query.level?.toUpperCase() as LogLevelName | undefined, taskId: query.taskId, before: query.before, after: query.after },
      principal,
    );
    return {
      items: page.items.map((l) => ({ id: l.id, ts: toIso(l.ts)!, level: l.level, taskId: l.taskId, taskRunId: l.taskRunId, attempt: l.attempt, message: l.message })),
      limit,
      offset,
      hasMore: page.hasMore,
    };
  }
}

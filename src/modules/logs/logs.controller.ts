import { applyDecorators, Controller, Get, Headers, Param, Query, Res } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiProperty, ApiPropertyOptional, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min, ValidateBy } from 'class-validator';
import { Authenticated, CurrentPrincipal } from '../../common/auth/decorators';
import type { Principal } from '../../common/auth/scopes';
import { ApiErrors, ApiOk } from '../../common/http/openapi';
import { DecimalInteger, Parsed, toIso, PageOf, pageOf, type PageDto, type SentenceContext } from '../../common/http/validation';
import type { LogLevelName, LogLine } from '../../engine/store/execution-types';
import { EngineProvider } from '../../common/engine.provider';
import { cursorFrom, LOG_STREAM_SETTINGS, reserveStreamSlot, serveLogStream } from './log-stream';

const LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'];

/** A log-id cursor in the query (`before`, `after`): decimal digits, documented as an integer. */
function LogIdQuery(field: string, description: string): PropertyDecorator {
  const message = `${field} must be a log id (an integer in decimal digits)`;
  return applyDecorators(
    ApiPropertyOptional({ type: 'integer', minimum: 0, description }),
    IsOptional(),
    DecimalInteger(),
    IsInt({ message }),
    Min(0, { message }),
  );
}

const CURSOR_CONFLICT: SentenceContext = { detail: 'cannot be combined with before' };

/** `after` is refused beside a valid `before` (an invalid one has its own error): a page reads one way. */
function NotWithBefore(): PropertyDecorator {
  return ValidateBy(
    { name: 'notWithBefore', validator: { validate: (_after: unknown, args) => !Number.isInteger((args?.object as { before?: unknown }).before) } },
    { message: 'use either before or after, not both', context: CURSOR_CONFLICT },
  );
}

/** The filters the list and the stream share. */
class LogFilterDto {
  /** any case; received in upper case */
  @ApiPropertyOptional({ enum: LEVELS, description: 'minimum level: DEBUG < INFO < WARN < ERROR' })
  @IsOptional()
  @IsIn([...LEVELS, ...LEVELS.map((l) => l.toLowerCase())], { message: `level must be one of ${LEVELS.join(', ')}` })
  @Parsed((level: string) => level.toUpperCase())
  level?: LogLevelName;

  @ApiPropertyOptional({ maxLength: 100 }) @IsOptional() @IsString() @MaxLength(100) taskId?: string;
}

/** `?limit&offset` of the log pages (default 100 lines) and the log-id cursors. */
export class LogQueryDto extends LogFilterDto {
  @ApiPropertyOptional({ type: 'integer', default: 100, minimum: 1, maximum: 1000 })
  @IsOptional()
  @DecimalInteger()
  @IsInt({ message: 'limit must be an integer between 1 and 1000, in decimal digits' })
  @Min(1, { message: 'limit must be an integer between 1 and 1000, in decimal digits' })
  @Max(1000, { message: 'limit must be an integer between 1 and 1000, in decimal digits' })
  limit: number = 100;

  @ApiPropertyOptional({ type: 'integer', default: 0, minimum: 0 })
  @IsOptional()
  @DecimalInteger()
  @IsInt({ message: 'offset must be a non-negative integer, in decimal digits' })
  @Min(0, { message: 'offset must be a non-negative integer, in decimal digits' })
  offset: number = 0;

  @LogIdQuery('before', 'only lines older than this log id (stable backwards paging)')
  before?: number;

  @NotWithBefore()
  @LogIdQuery('after', 'only lines newer than this log id (tail polling: the oldest `limit` of them, sorted newest first)')
  after?: number;
}

export class LogStreamQueryDto extends LogFilterDto {
  @LogIdQuery('after', 'start after this log id (a Last-Event-ID header, sent by a reconnecting EventSource, wins over it)')
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
  @Authenticated({ scopes: ['logs:read'] })
  @ApiOperation({ operationId: 'listExecutionLogs', summary: 'Execution logs, newest first; page with before=<id>, tail with after=<id>' })
  @ApiOk(LogPageDto)
  @ApiErrors(400, 404)
  async logs(@Param('id') id: string, @Query() query: LogQueryDto, @CurrentPrincipal() principal: Principal): Promise<LogPageDto> {
    const page = await this.engine.engine.executions.logs(id, query, principal);
    return pageOf(query, page, toLogLineDto);
  }

  @Get(':id/logs/stream')
  @Authenticated({ scopes: ['logs:read'] })
  @ApiOperation({
    operationId: 'streamExecutionLogs',
    summary: 'Follow execution logs live (Server-Sent Events)',
    description:
      'The lines after the cursor (`after`, or the Last-Event-ID header of a reconnecting EventSource), oldest first, then new lines as they are written, ' +
      'each as `event: log`, `id: <log id>`, `data: <LogLineDto JSON>`; then `event: end` with `{"state","executionId","endedAt","error"}` once the execution is terminal ' +
      'and every line written before that was sent, and the stream closes. `: heartbeat` comments keep a quiet stream open. A draining server ends open streams ' +
      '(reconnect with Last-Event-ID). Errors before the stream starts are JSON in the error shape.',
  })
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'resume after this log id (wins over `after`)' })
  @ApiResponse({ status: 200, description: 'an event stream', content: { 'text/event-stream': { schema: { type: 'string', example: 'id: 42\nevent: log\ndata: {"id":42,...}\n\n' } } } })
  @ApiErrors(400, 404, 429, 503)
  async stream(
    @Param('id') id: string,
    @Query() query: LogStreamQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
    @CurrentPrincipal() principal: Principal,
  ): Promise<void> {
    const after = cursorFrom(lastEventId, query.after);
    const release = reserveStreamSlot();
    const stopped = new AbortController();
    let events;
    try {
      // 404 / 503 leave as JSON: nothing is written before the execution is known to be visible
      events = await this.engine.engine.executions.follow(
        id,
        { after, level: query.level, taskId: query.taskId },
        { signal: stopped.signal, pollMs: LOG_STREAM_SETTINGS.pollMs, batch: LOG_STREAM_SETTINGS.batch },
        principal,
      );
    } catch (error) {
      release();
      throw error;
    }
    await serveLogStream(reply, events, { stopped, release }, toLogLineDto, this.engine.engine.logger);
  }
}

export function toLogLineDto(l: LogLine): LogLineDto {
  return { id: l.id, ts: toIso(l.ts)!, level: l.level, taskId: l.taskId, taskRunId: l.taskRunId, attempt: l.attempt, message: l.message };
}

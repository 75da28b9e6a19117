import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsObject, IsOptional, IsString, Matches, MaxLength, ValidateBy } from 'class-validator';
import { WaitDuration } from '../../common/http/trigger-options';
import { PageQueryDto, toIso, PageOf, type PageDto, type SentenceContext } from '../../common/http/validation';
import { type ExecutionRecord, type TaskRunRecord } from '../../engine/store/execution-types';
import { EXECUTION_STATES, TASK_RUN_STATES } from '../../engine/execution-state';

/** The longest `?wait` of a trigger. */
export const MAX_TRIGGER_WAIT_MS = 60_000;

const LABELS_CONTEXT: SentenceContext = { detail: 'must map names to strings' };

/** At most 50 labels, each a name of at most 100 characters mapped to a string of at most 1000. */
function AreLabels(): PropertyDecorator {
  return ValidateBy(
    {
      name: 'areLabels',
      validator: {
        validate: (labels: unknown) => {
          if (labels === null || typeof labels !== 'object') return false;
          const entries = Object.entries(labels);
          return entries.length <= 50 && entries.every(([name, value]) => typeof value === 'string' && name.length <= 100 && value.length <= 1000);
        },
      },
    },
    { message: 'labels must be an object of at most 50 string values (keys <= 100 chars, values <= 1000)', context: LABELS_CONTEXT },
  );
}

export class TriggerExecutionDto {
  @ApiPropertyOptional({ description: 'values for the workflow inputs (validated and coerced)', type: 'object', additionalProperties: true })
  @IsOptional()
  @IsObject({ message: 'inputs must be an object' })
  inputs?: Record<string, unknown>;

  @ApiPropertyOptional({ description: 'string labels added to the execution (at most 50; names <= 100 characters, values <= 1000)', type: 'object', maxProperties: 50, additionalProperties: { type: 'string', maxLength: 1000 } })
  @IsOptional()
  @AreLabels()
  @IsObject({ message: 'labels must be an object of strings' })
  labels?: Record<string, string>;
}

export class TriggerQueryDto {
  /** sent as a duration, received in milliseconds */
  @ApiPropertyOptional({ type: String, description: "hold the response until the execution ends, at most this long: a duration such as '30s', '500ms' or 'PT30S', at most 60s", maxLength: 20, example: '30s' })
  @IsOptional()
  @WaitDuration(MAX_TRIGGER_WAIT_MS)
  @IsString()
  @MaxLength(20)
  wait?: number;
}

export class ExecutionListQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ maxLength: 100 }) @IsOptional() @IsString() @MaxLength(100) workflowId?: string;
  @ApiPropertyOptional({ maxLength: 200, pattern: '^[A-Za-z0-9._-]+$' }) @IsOptional() @IsString() @MaxLength(200) @Matches(/^[A-Za-z0-9._-]+$/, { message: 'namespace may contain letters, digits, dot, underscore and dash only' }) namespace?: string;
  @ApiPropertyOptional({ enum: EXECUTION_STATES })
  @IsOptional()
  @IsIn(EXECUTION_STATES as unknown as string[], { message: `state must be one of ${EXECUTION_STATES.join(', ')}` })
  state?: string;
}

export class ExecutionErrorDto {
  @ApiProperty() message: string;
  @ApiProperty({ nullable: true, type: String }) taskId: string | null;
  @ApiPropertyOptional() kind?: string;
}

export class StateChangeDto {
  @ApiProperty({ enum: EXECUTION_STATES }) state: string;
  @ApiProperty({ format: 'date-time' }) at: string;
}

export class TaskRunDto {
  @ApiProperty() id: string;
  @ApiProperty() taskId: string;
  @ApiProperty({ nullable: true, type: String }) parentTaskRunId: string | null;
  @ApiProperty({ nullable: true, type: 'integer', minimum: 0, description: 'foreach iteration index' }) iteration: number | null;
  @ApiProperty({ type: 'integer', minimum: 1, description: 'the retry number: 1 for the first try' }) attempt: number;
  @ApiProperty({ enum: TASK_RUN_STATES }) state: string;
  @ApiProperty({ format: 'date-time' }) startedAt: string;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) endedAt: string | null;
  @ApiProperty({ nullable: true, type: 'integer', minimum: 0 }) durationMs: number | null;
  @ApiProperty({ nullable: true, type: 'object', additionalProperties: true, description: 'task outputs (size-capped); null while running or when it failed' }) outputs: unknown;
  @ApiProperty({ nullable: true, type: ExecutionErrorDto }) error: ExecutionErrorDto | null;

  static from(run: TaskRunRecord): TaskRunDto {
    return {
      id: run.id,
      taskId: run.taskId,
      parentTaskRunId: run.parentTaskRunId,
      iteration: run.iteration,
      attempt: run.attempt,
      state: run.state,
      startedAt: toIso(run.startedAt)!,
      endedAt: toIso(run.endedAt),
      durationMs: run.endedAt === null ? null : Math.max(0, run.endedAt - run.startedAt),
      outputs: run.outputs,
      error: run.error,
    };
  }
}

export class ExecutionDto {
  @ApiProperty({ description: 'opaque, URL-safe, sortable by creation (ULID)' }) id: string;
  @ApiProperty() workflowId: string;
  @ApiProperty() namespace: string;
  @ApiProperty({ type: 'integer', minimum: 1, description: 'the workflow revision this execution pinned' }) revision: number;
  @ApiProperty({ enum: EXECUTION_STATES }) state: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) inputs: Record<string, unknown>;
  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true, description: 'taskId → that task’s outputs' }) outputs: Record<string, unknown> | null;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    nullable: true,
    description: "the workflow's declared `outputs:` (output id → typed value), computed when the execution succeeds; null when the workflow declares none or the execution did not succeed",
  })
  workflowOutputs: Record<string, unknown> | null;
  @ApiProperty({ nullable: true, type: ExecutionErrorDto }) error: ExecutionErrorDto | null;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) labels: Record<string, string>;
  @ApiProperty({ type: 'object', additionalProperties: true, description: '{type: api|cli|schedule|subflow|tool, id?, tool?, transport?}' }) trigger: unknown;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) startedAt: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) endedAt: string | null;
  @ApiProperty({ nullable: true, type: 'integer', minimum: 0 }) durationMs: number | null;
  @ApiProperty({ type: [StateChangeDto] }) history: StateChangeDto[];
  @ApiPropertyOptional({ type: [TaskRunDto], description: 'one entry per attempt (inspect only)' }) taskRuns?: TaskRunDto[];

  static from(e: ExecutionRecord, taskRuns?: TaskRunRecord[]): ExecutionDto {
    const dto: ExecutionDto = {
      id: e.id,
      workflowId: e.workflowId,
      namespace: e.namespace,
      revision: e.revision,
      state: e.state,
      inputs: e.inputs,
      outputs: e.outputs,
      workflowOutputs: e.workflowOutputs ?? null,
      error: e.error,
      labels: e.labels,
      trigger: e.trigger,
      createdAt: toIso(e.createdAt)!,
      startedAt: toIso(e.startedAt),
      endedAt: toIso(e.endedAt),
      // start and end may be stamped by two replicas whose clocks differ: never a negative duration
      durationMs: e.startedAt !== null && e.endedAt !== null ? Math.max(0, e.endedAt - e.startedAt) : null,
      history: e.history.map((h) => ({ state: h.state, at: toIso(h.at)! })),
    };
    if (taskRuns) dto.taskRuns = taskRuns.map(TaskRunDto.from);
    return dto;
  }
}

export const ExecutionPageDto = PageOf(ExecutionDto, 'ExecutionPageDto');
export type ExecutionPageDto = PageDto<ExecutionDto>;

import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsObject, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { WaitDuration } from '../../common/http/trigger-options';
import { PageOf, PageQueryDto, type PageDto } from '../../common/http/validation';
import { MAX_TOOL_WAIT_MS } from '../../engine/dsl';
import { EXECUTION_STATES } from '../../engine/execution-state';
import type { ToolDescriptor } from '../../engine/tools/types';

export class ToolListQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ maxLength: 200, pattern: '^[A-Za-z0-9._-]+$', description: 'only the workflow tools of this exact namespace (built-in tools have none)' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  @Matches(/^[A-Za-z0-9._-]+$/, { message: 'namespace may contain letters, digits, dot, underscore and dash only' })
  namespace?: string;
}

export class ToolAnnotationsDto {
  @ApiPropertyOptional() title?: string;
  @ApiPropertyOptional() readOnlyHint?: boolean;
  @ApiPropertyOptional() destructiveHint?: boolean;
  @ApiPropertyOptional() idempotentHint?: boolean;
  @ApiPropertyOptional() openWorldHint?: boolean;
}

export class ToolDto {
  @ApiProperty({ pattern: '^[A-Za-z0-9_-]{1,64}$' }) name: string;
  @ApiPropertyOptional() title?: string;
  @ApiProperty() description: string;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'JSON Schema 2020-12 of the arguments (root type object)' })
  inputSchema: Record<string, unknown>;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'JSON Schema 2020-12 of the answer; present when the workflow declares outputs' })
  outputSchema?: Record<string, unknown>;
  @ApiProperty({ type: ToolAnnotationsDto }) annotations: ToolAnnotationsDto;
  @ApiProperty({ nullable: true, type: String, description: 'null for built-in tools' }) workflowId: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'null for built-in tools' }) namespace: string | null;

  static from(tool: ToolDescriptor): ToolDto {
    return tool as ToolDto;
  }
}

export const ToolPageDto = PageOf(ToolDto, 'ToolPageDto');
export type ToolPageDto = PageDto<ToolDto>;

export class InvokeToolDto {
  @ApiPropertyOptional({ description: "the tool's arguments (its inputSchema): validated and coerced like trigger inputs", type: 'object', additionalProperties: true })
  @IsOptional()
  @IsObject({ message: 'inputs must be an object' })
  inputs?: Record<string, unknown>;

  @ApiPropertyOptional({ description: 'validate the arguments and answer the plan; nothing is created or run' })
  @IsOptional()
  @IsBoolean({ message: 'dryRun must be a boolean' })
  dryRun?: boolean;

  /** sent as a duration, received in milliseconds */
  @ApiPropertyOptional({ type: String, maxLength: 20, example: '5s', description: "how long to wait for the end: a duration such as '5s' (at most the tool's own wait, which is the default)" })
  @IsOptional()
  @WaitDuration(MAX_TOOL_WAIT_MS)
  @IsString({ message: "wait must be a duration such as '5s'" })
  @MaxLength(20)
  wait?: number;
}

export class ToolErrorDto {
  @ApiProperty() message: string;
  @ApiPropertyOptional() taskId?: string;
  @ApiPropertyOptional() kind?: string;
}

export class ToolCallResultDto {
  @ApiProperty() executionId: string;
  @ApiProperty({ enum: EXECUTION_STATES }) status: string;
  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true, description: "the declared outputs when the workflow declares any, else taskId → task outputs; null until it ends" })
  outputs: Record<string, unknown> | null;
  @ApiProperty({ type: ToolErrorDto, nullable: true }) error: ToolErrorDto | null;
  @ApiProperty({ type: 'integer', description: 'from creation to the end (or to now, while running)' }) durationMs: number;
}

export class DryRunPlanDto {
  @ApiProperty() workflowId: string;
  @ApiProperty() namespace: string;
  @ApiProperty({ type: 'integer' }) revision: number;
  @ApiProperty({ type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, type: { type: 'string' } } } }) tasks: { id: string; type: string }[];
  @ApiProperty({ type: 'integer' }) waitMs: number;
}

export class DryRunResultDto {
  @ApiProperty({ enum: ['DRY_RUN'] }) status: 'DRY_RUN';
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'the arguments as coerced, defaults filled' }) inputs: Record<string, unknown>;
  @ApiProperty({ type: DryRunPlanDto }) plan: DryRunPlanDto;
}

export class BuiltInResultDto {
  @ApiProperty({ enum: ['OK'] }) status: 'OK';
  @ApiProperty({ type: 'object', additionalProperties: true, description: "the built-in tool's answer (its outputSchema)" }) result: Record<string, unknown>;
}

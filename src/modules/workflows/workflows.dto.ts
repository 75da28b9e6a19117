import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsDefined, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { WORKFLOW_ID_PATTERN } from '../../engine/dsl/types';
import type { WorkflowRecord, WorkflowSummary } from '../../engine/store/state-store';
import { BooleanQuery } from '../../common/http/boolean-query';
import { PageQueryDto, toIso, PageOf, type PageDto } from '../../common/http/validation';

export class WorkflowListQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ description: 'exact namespace', maxLength: 200, pattern: '^[A-Za-z0-9._-]+$' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  @Matches(/^[A-Za-z0-9._-]+$/, { message: 'namespace may contain letters, digits, dot, underscore and dash only' })
  namespace?: string;

  @ApiPropertyOptional({ type: 'string', enum: ['true', 'false'], description: 'true or false' })
  @IsOptional()
  @BooleanQuery()
  @IsBoolean({ message: "enabled must be 'true' or 'false'" })
  enabled?: boolean;
}

export class WorkflowPatchDto {
  @ApiProperty({ description: 'enable or disable the workflow (disabled workflows cannot be triggered and stop firing schedules)' })
  @IsDefined({ message: 'enabled is required' })
  @IsBoolean({ message: 'enabled must be a boolean' })
  enabled: boolean;
}

export class WorkflowSummaryDto {
  @ApiProperty({ pattern: WORKFLOW_ID_PATTERN.source }) id: string;
  @ApiProperty() namespace: string;
  @ApiProperty({ nullable: true, type: String }) description: string | null;
  @ApiProperty() enabled: boolean;
  @ApiProperty({ type: 'integer', minimum: 1, description: 'incremented by every apply' }) revision: number;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) updatedAt: string;

  static from(workflow: WorkflowSummary): WorkflowSummaryDto {
    return {
      id: workflow.id,
      namespace: workflow.namespace,
      description: workflow.description,
      enabled: workflow.enabled,
      revision: workflow.revision,
      createdAt: toIso(workflow.createdAt)!,
      updatedAt: toIso(workflow.updatedAt)!,
    };
  }
}

export class WorkflowDto extends WorkflowSummaryDto {
  @ApiProperty({ description: 'the normalized definition (durations in ms, defaults filled)', type: 'object', additionalProperties: true })
  definition: unknown;
  @ApiProperty({ description: 'the YAML text as applied' })
  source: string;

  static fromRecord(workflow: WorkflowRecord): WorkflowDto {
    return { ...WorkflowSummaryDto.from(workflow), definition: workflow.definition, source: workflow.source };
  }

  /**
   * The same document as `fromRecord`, as JSON text, embedding the stored definition JSON when the
   * record has it: encoding a large definition again took ~100 ms of event loop per response.
   */
  static json(workflow: WorkflowRecord): string {
    const summary = JSON.stringify(WorkflowSummaryDto.from(workflow));
    const definition = workflow.definitionJson ?? JSON.stringify(workflow.definition);
    return `${summary.slice(0, -1)},"definition":${definition},"source":${JSON.stringify(workflow.source)}}`;
  }
}

export const WorkflowPageDto = PageOf(WorkflowSummaryDto, 'WorkflowPageDto');
export type WorkflowPageDto = PageDto<WorkflowSummaryDto>;

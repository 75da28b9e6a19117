import { Injectable, type PipeTransform } from '@nestjs/common';
import { assertWorkflowId } from '../../engine/workflows';

/**
 * `@Param('id', WorkflowIdPipe)`: a workflow id in the path, or 400 VALIDATION_ERROR (field `id`)
 * before the handler runs. The engine checks again, for its other callers (the CLI).
 */
@Injectable()
export class WorkflowIdPipe implements PipeTransform<string, string> {
  transform(id: string): string {
    assertWorkflowId(id);
    return id;
  }
}

export * from './types';
import { parseWorkflow as parseWithTypes, type ParseOptions as ParseWithTypesOptions, type ParseResult } from './parse-workflow';
import { builtInTaskTypeSchemas } from '../tasks/registry';

/**
 * Options of `parseWorkflow`: without `taskTypes`, the built-in task types, with shell switched
 * on or off by `shellEnabled` (the engine passes its registry's schemas instead).
 */
export type ParseOptions = Omit<ParseWithTypesOptions, 'taskTypes'> & { shellEnabled: boolean; taskTypes?: ParseWithTypesOptions['taskTypes'] };

/** Parses and validates a workflow (see parse-workflow.ts), by default against the built-in task types. */
export function parseWorkflow(source: string, options: ParseOptions): ParseResult {
  const { shellEnabled, taskTypes, ...rest } = options;
  return parseWithTypes(source, { ...rest, taskTypes: taskTypes ?? builtInTaskTypeSchemas({ shellEnabled }) });
}

export {
  DEFAULT_MAX_ALIAS_COUNT,
  DEFAULT_MAX_DEPTH,
  MAX_DIAGNOSTICS,
  MAX_TASKS,
  TASK_ID_PATTERN,
  INPUT_ID_PATTERN,
  NAMESPACE_PATTERN,
  type ParseResult,
} from './parse-workflow';
export { COMMON_TASK_PROPERTIES, type PropertySchema, type PropertySpec, type PropertyKind, type TaskTypeSchema, type ListMode } from './property-schema';
export { parseDurationMs } from './duration';
export { splitCommandLine } from './command-line';
export { scanTemplates, findReferences, type TemplateSpan, type ExpressionReferences, type OutputReference } from './templates';
export { formatPath, type Path, type PathSegment } from './diagnostics';
export { parseZonedDateTime, ZONED_DATE_TIME_HINT } from './datetime';

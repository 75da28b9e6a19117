export * from './types';
export {
  parseWorkflow,
  DEFAULT_MAX_ALIAS_COUNT,
  DEFAULT_MAX_DEPTH,
  MAX_DIAGNOSTICS,
  MAX_TASKS,
  TASK_ID_PATTERN,
  INPUT_ID_PATTERN,
  NAMESPACE_PATTERN,
  type ParseOptions,
  type ParseResult,
} from './parse-workflow';
export { parseDurationMs } from './duration';
export { splitCommandLine } from './command-line';
export { scanTemplates, findReferences, type TemplateSpan, type ExpressionReferences, type OutputReference } from './templates';
export { formatPath, type Path, type PathSegment } from './diagnostics';
export { parseZonedDateTime, ZONED_DATE_TIME_HINT } from './datetime';

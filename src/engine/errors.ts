import type { Diagnostic } from './dsl/types';

/**
 * Engine errors are plain classes; the HTTP layer maps them to status + code in one place
 * (the global exception filter) and the CLI prints their message.
 */
export class EngineError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class NotFoundError extends EngineError {
  constructor(resource: string, id: string, details?: unknown) {
    super('NOT_FOUND', `${resource} '${id}' not found`, details);
  }
}

export class InvalidWorkflowError extends EngineError {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(
      'INVALID_WORKFLOW',
      diagnostics.length === 1
        ? `workflow is invalid: ${diagnostics[0].path ? `${diagnostics[0].path}: ` : ''}${diagnostics[0].message}`
        : `workflow is invalid: ${diagnostics.length} problems (see details)`,
      diagnostics,
    );
  }
}

export class WorkflowIdMismatchError extends EngineError {
  constructor(pathId: string, yamlId: string) {
    super('WORKFLOW_ID_MISMATCH', `the workflow id in the YAML ('${yamlId}') differs from the id in the path ('${pathId}')`);
  }
}

export class ValidationError extends EngineError {
  constructor(details: { field: string; message: string }[]) {
    super('VALIDATION_ERROR', details.map((d) => `${d.field}: ${d.message}`).join('; '), details);
  }
}

export class ConflictError extends EngineError {
  constructor(code: string, message: string, details?: unknown) {
    super(code, message, details);
  }
}

export class NotReadyError extends EngineError {
  constructor(message = 'the engine is not ready') {
    super('NOT_READY', message);
  }
}

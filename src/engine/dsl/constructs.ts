import type { TaskTypeSchema } from './property-schema';
import { WORKFLOW_ID_PATTERN } from './types';

/**
 * Task types that are part of the language rather than plugins: the containers (their nested
 * task lists are walked by the validator and run by runtime/containers) and subflow (it starts
 * another execution, which only the engine can do). They are registered in the same
 * TaskTypeRegistry as every other type, so their names are taken and their properties checked
 * the same way; only their execution is the runtime's own.
 */
export const CONSTRUCT_SCHEMAS: Readonly<Record<'parallel' | 'if' | 'foreach' | 'subflow', TaskTypeSchema>> = {
  parallel: {
    name: 'parallel',
    properties: {
      concurrency: { type: 'integer', min: 1, default: null },
      tasks: { type: 'tasks', mode: 'concurrent', required: true },
    },
  },
  if: {
    name: 'if',
    properties: {
      condition: { type: 'condition', required: true },
      // then and else never both run, but each is an ordinary sequence
      then: { type: 'tasks', mode: 'sequential', required: true },
      else: { type: 'tasks', mode: 'sequential', default: [] },
    },
  },
  foreach: {
    name: 'foreach',
    properties: {
      items: { type: 'listOrExpression', required: true },
      concurrency: { type: 'integer', min: 1, default: 1 },
      tasks: { type: 'tasks', mode: 'sequential', required: true },
    },
    loopBody: true,
  },
  subflow: {
    name: 'subflow',
    properties: {
      workflowId: {
        type: 'string',
        pattern: WORKFLOW_ID_PATTERN,
        patternHint: "workflow ids are 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit",
        required: true,
      },
      inputs: { type: 'object', default: {} },
    },
  },
};

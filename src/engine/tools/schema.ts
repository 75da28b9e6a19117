import type { InputDefinition, InputType, OutputDefinition } from '../dsl/types';
import { EXECUTION_STATES } from '../execution-state';
import type { JsonSchemaObject } from './types';

const SCHEMA_DIALECT = 'https://json-schema.org/draft/2020-12/schema';

/**
 * The JSON Schema of one value of a DSL type. Single types only: several LLM clients reject
 * type arrays and top-level anyOf/oneOf, so "optional" is expressed by `required`, not by
 * `type: [x, null]`.
 */
function typeSchema(type: InputType, declared?: Record<string, unknown>): Record<string, unknown> {
  switch (type) {
    case 'string':
      return { type: 'string' };
    case 'number':
      return { type: 'number' };
    case 'integer':
      return { type: 'integer' };
    case 'boolean':
      return { type: 'boolean' };
    case 'datetime':
      return { type: 'string', format: 'date-time' };
    case 'json':
      // Without a declared schema any JSON value fits: `{}` is the schema that accepts everything.
      return declared ? structuredClone(declared) : {};
  }
}

/** Removes keywords that only make sense at a document's root from an embedded user schema. */
function embeddable(schema: Record<string, unknown>): Record<string, unknown> {
  const { $schema: _dialect, $id: _id, ...rest } = schema;
  return rest;
}

/**
 * The tool's inputSchema (JSON Schema 2020-12): root `type: object`, no extra properties,
 * `required` = required inputs without a default; defaults and descriptions carried over.
 */
export function inputSchemaOf(inputs: readonly InputDefinition[]): JsonSchemaObject {
  const properties: Record<string, Record<string, unknown>> = {};
  const required: string[] = [];
  for (const input of inputs) {
    const property = input.type === 'json' && input.schema ? embeddable(typeSchema('json', input.schema)) : typeSchema(input.type);
    if (input.description) property.description = input.description;
    const hasDefault = 'default' in input && input.default !== undefined;
    if (hasDefault) property.default = structuredClone(input.default);
    if (input.required && !hasDefault) required.push(input.id);
    properties[input.id] = property;
  }
  const schema: JsonSchemaObject = { $schema: SCHEMA_DIALECT, type: 'object', properties, additionalProperties: false };
  if (required.length > 0) schema.required = required;
  return schema;
}

/**
 * The tool's outputSchema, from the declared outputs. It describes the whole answer (the
 * structuredContent), not only the outputs: an invocation that outlives its wait answers
 * `{executionId, status: RUNNING}` without outputs, and a client validating results against the
 * schema must accept that too. `outputs` is present, with every declared output, exactly when
 * the execution succeeded (a value that does not fit fails the execution instead).
 */
export function outputSchemaOf(outputs: readonly OutputDefinition[]): JsonSchemaObject | undefined {
  if (outputs.length === 0) return undefined;
  const properties: Record<string, Record<string, unknown>> = {};
  for (const output of outputs) {
    const property = typeSchema(output.type);
    if (output.description) property.description = output.description;
    properties[output.id] = property;
  }
  return objectSchema(
    {
      executionId: { type: 'string', description: 'the execution this call started (follow it with get_execution)' },
      status: { type: 'string', enum: [...EXECUTION_STATES], description: 'the execution state when the call answered' },
      outputs: { type: 'object', properties, required: outputs.map((o) => o.id), additionalProperties: false, description: "the workflow's declared outputs (when SUCCESS)" },
      error: ERROR_SCHEMA,
      durationMs: { type: 'integer', minimum: 0 },
    },
    ['executionId', 'status'],
  );
}

/** How a failed execution's error looks in a tool answer. */
export const ERROR_SCHEMA: Record<string, unknown> = {
  type: 'object',
  properties: { message: { type: 'string' }, taskId: { type: 'string' }, kind: { type: 'string' } },
  required: ['message'],
  description: 'why the execution failed or was cancelled (absent otherwise)',
};

/** A schema built by hand for a built-in tool (same dialect and root rules as the generated ones). */
export function objectSchema(
  properties: Record<string, Record<string, unknown>>,
  required: readonly string[] = [],
  additionalProperties = false,
): JsonSchemaObject {
  const schema: JsonSchemaObject = { $schema: SCHEMA_DIALECT, type: 'object', properties, additionalProperties };
  if (required.length > 0) schema.required = [...required];
  return schema;
}

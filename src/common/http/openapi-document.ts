import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { VERSION } from '../../version';
import { PUBLIC_OPERATION_EXTENSION } from '../auth/decorators';
import { ERROR_STATUS, type ErrorCode } from '../errors/api-error';
import { errorResponseSchema, errorSchemaName, SECURITY_SCHEMES } from './openapi';

type Json = Record<string, unknown>;

/** What each group of routes is for (OpenAPI `tags`, in the order a reader meets them). */
const TAGS: { name: string; description: string }[] = [
  { name: 'workflows', description: 'Apply, read, enable/disable and delete YAML workflows (DSL v1).' },
  { name: 'executions', description: 'Trigger, inspect, list and cancel executions of workflows.' },
  { name: 'logs', description: 'Execution logs: pages, tail polling and a live Server-Sent Events stream.' },
  { name: 'tools', description: 'Workflows and built-ins as tools for AI agents (the same tools MCP lists).' },
  { name: 'api-keys', description: 'Managed API keys: create, scope, expire, rate-limit, rotate, revoke.' },
  { name: 'audit', description: 'The audit trail of every mutation and every denied attempt.' },
  { name: 'status', description: 'Service state and version for any valid key.' },
  { name: 'health', description: 'Kubernetes probes: public, never behind a key.' },
];

const FIELD_ERRORS = { type: 'array', items: { $ref: '#/components/schemas/FieldError' } };

/** `error.details` per code; a code not listed here never carries details. */
const DETAILS: Partial<Record<ErrorCode, { schema: Json; required: boolean }>> = {
  VALIDATION_ERROR: { schema: FIELD_ERRORS, required: false },
  INVALID_INPUTS: { schema: FIELD_ERRORS, required: true },
  INVALID_WORKFLOW: { schema: { type: 'array', items: { $ref: '#/components/schemas/WorkflowDiagnostic' } }, required: true },
  FORBIDDEN: {
    schema: {
      type: 'object',
      required: ['requiredScopes'],
      additionalProperties: false,
      properties: { requiredScopes: { type: 'array', items: { type: 'string' }, description: 'the scopes the route (or the grant) needs' } },
    },
    required: false,
  },
  NOT_FOUND: {
    schema: {
      type: 'object',
      required: ['suggestions'],
      additionalProperties: false,
      properties: { suggestions: { type: 'array', items: { type: 'string' }, description: 'tools: the nearest names this key can see' } },
    },
    required: false,
  },
};

const CODE_DESCRIPTIONS: Partial<Record<ErrorCode, string>> = {
  VALIDATION_ERROR: 'the request is malformed: details lists each field and what to fix (when the problem is tied to fields)',
  INVALID_WORKFLOW: 'the workflow YAML is invalid: details lists every problem with its path and line',
  INVALID_INPUTS: 'the inputs do not fit the workflow: details lists each input and what to fix',
  FORBIDDEN: 'the key lacks a scope (details.requiredScopes) or the namespace is outside the key',
  RATE_LIMITED: 'too many requests: retry after Retry-After seconds',
};

function errorComponents(): Json {
  const codes = Object.keys(ERROR_STATUS) as ErrorCode[];
  const schemas: Json = {
    ErrorCode: { type: 'string', enum: codes, description: 'stable UPPER_SNAKE error codes; each belongs to one HTTP status' },
    FieldError: {
      type: 'object',
      required: ['field', 'message'],
      additionalProperties: false,
      properties: { field: { type: 'string', description: 'the field, query parameter or header at fault' }, message: { type: 'string' } },
    },
    WorkflowDiagnostic: {
      type: 'object',
      required: ['path', 'message'],
      additionalProperties: false,
      properties: {
        path: { type: 'string', description: "where in the workflow, e.g. 'tasks[2].retry.maxAttempts' ('' for the document)" },
        message: { type: 'string' },
        line: { type: 'integer', minimum: 1, description: '1-based line in the YAML source' },
      },
    },
    ErrorResponse: {
      description: 'the one error shape: every error of every route',
      ...errorResponseSchema(codes),
    },
  };
  for (const code of codes) {
    const details = DETAILS[code];
    schemas[errorSchemaName(code)] = {
      type: 'object',
      description: `HTTP ${ERROR_STATUS[code]}${CODE_DESCRIPTIONS[code] ? `: ${CODE_DESCRIPTIONS[code]}` : ''}`,
      required: ['code', 'message', ...(details?.required ? ['details'] : [])],
      additionalProperties: false,
      properties: {
        code: { type: 'string', const: code },
        message: { type: 'string', description: 'what went wrong and what to do about it (for humans; match on code)' },
        ...(details ? { details: details.schema } : {}),
      },
    };
  }
  return schemas;
}

const HEADERS: Json = {
  'X-Request-Id': {
    description: "the request's id (the caller's own X-Request-Id when it is sane): quote it when reporting a problem",
    schema: { type: 'string' },
  },
  'Cache-Control': { description: 'API answers are never cached', schema: { type: 'string', enum: ['no-store'] } },
  'Retry-After': { description: 'seconds to wait before retrying', schema: { type: 'integer', minimum: 0 } },
  'RateLimit-Limit': { description: "only for keys with their own rateLimit: the key's requests per window", schema: { type: 'integer', minimum: 1 } },
  'RateLimit-Remaining': { description: 'only for keys with their own rateLimit: requests left in this window', schema: { type: 'integer', minimum: 0 } },
  'RateLimit-Reset': { description: 'only for keys with their own rateLimit: seconds until the window resets', schema: { type: 'integer', minimum: 0 } },
};

const headerRef = (name: string) => ({ $ref: `#/components/headers/${name}` });

/**
 * Turns Nest's OpenAPI 3.0 `nullable` into OpenAPI 3.1 (JSON Schema 2020-12) null types:
 * `{type: X, nullable: true}` → `{type: [X, 'null']}`, a nullable `$ref`/`allOf` → `anyOf [..., null]`.
 */
function toJsonSchema2020(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema2020);
  if (node === null || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) out[key] = key === 'example' ? value : toJsonSchema2020(value);
  if (out.nullable === true) {
    delete out.nullable;
    if (Array.isArray(out.allOf) && out.allOf.length === 1) {
      // Nest writes a nullable DTO-typed property as {type: object, allOf: [$ref]}
      out.anyOf = [out.allOf[0], { type: 'null' }];
      delete out.allOf;
      delete out.type;
    } else if (typeof out.type === 'string') {
      out.type = [out.type, 'null'];
      if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
    } else if (out.$ref) {
      out.anyOf = [{ $ref: out.$ref }, { type: 'null' }];
      delete out.$ref;
    } else if (out.type === undefined) {
      // "anything, or null" is already "anything"
    }
  } else if (out.nullable === false) {
    delete out.nullable;
  }
  return out;
}

const METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const;

/**
 * The contract-level facts Nest's generator cannot know: OpenAPI 3.1, servers, described tags,
 * the error bodies per code, the headers every answer carries, 413/415/400 on every route that
 * takes a body (Fastify enforces them before any handler). Each operation's security is its
 * decorator's: `@Authenticated`/`@RequireScopes` write bearer-or-apiKey, `@Public()` marks the
 * operation, which gets `security: []` here; a route with neither (the guard asks for an `admin`
 * key) falls back to the document's default, the same two schemes.
 */
export function finalizeDocument(document: OpenAPIObject): OpenAPIObject {
  const doc = toJsonSchema2020(document) as Json & { paths: Record<string, Record<string, Json>>; components: Json };
  doc.openapi = '3.1.0';
  doc.components.schemas = { ...(doc.components.schemas as Json), ...errorComponents() };
  doc.components.headers = HEADERS;
  for (const item of Object.values(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method] as (Json & { responses: Record<string, Json>; tags?: string[] }) | undefined;
      if (!op) continue;
      const isPublic = op[PUBLIC_OPERATION_EXTENSION] === true;
      if (isPublic) op.security = [];
      delete op[PUBLIC_OPERATION_EXTENSION];
      // the protocol checks (Host, header sizes, encodings) run before any route: any may answer 400
      op.responses[400] ??= { description: 'error: VALIDATION_ERROR', content: { 'application/json': { schema: errorResponseSchema(['VALIDATION_ERROR']) } } };
      if (op.requestBody) {
        for (const [status, code] of [[413, 'PAYLOAD_TOO_LARGE'], [415, 'UNSUPPORTED_MEDIA_TYPE'], [400, 'VALIDATION_ERROR']] as const) {
          op.responses[status] ??= { description: `error: ${code}`, content: { 'application/json': { schema: errorResponseSchema([code]) } } };
        }
      }
      for (const [status, response] of Object.entries(op.responses)) {
        const headers: Json = { 'X-Request-Id': headerRef('X-Request-Id'), 'Cache-Control': headerRef('Cache-Control') };
        if (status === '429') headers['Retry-After'] = headerRef('Retry-After');
        // authenticated routes: a key with its own rateLimit sees its budget on every answer
        if (!isPublic) for (const name of ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset']) headers[name] = headerRef(name);
        response.headers = { ...headers, ...(response.headers as Json | undefined) };
      }
    }
  }
  return doc as unknown as OpenAPIObject;
}

export function buildOpenApiDocument(app: NestFastifyApplication): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setTitle('Autokestra API')
    .setDescription(
      'Workflow orchestration API v1. Every error answers {"error":{"code","message","details?"}} (the ErrorResponse schema; ' +
        'each code has its own schema, e.g. ValidationError). Authenticate with "Authorization: Bearer <key>" or "X-API-Key: <key>"; ' +
        'when both are sent, Authorization wins. Every answer carries X-Request-Id and Cache-Control: no-store.',
    )
    .setVersion(VERSION)
    .setLicense('Apache-2.0', 'https://www.apache.org/licenses/LICENSE-2.0')
    .addServer('/', 'the server that serves this document')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'API key', description: 'API key as a Bearer token' }, SECURITY_SCHEMES[0])
    .addApiKey({ type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'API key in a header' }, SECURITY_SCHEMES[1]);
  // the default of an operation without a decorator of its own (the guard asks for an admin key)
  for (const scheme of SECURITY_SCHEMES) builder.addSecurityRequirements(scheme);
  for (const tag of TAGS) builder.addTag(tag.name, tag.description);
  return finalizeDocument(SwaggerModule.createDocument(app, builder.build()));
}

/**
 * The typed Autokestra API v1 client: openapi-fetch over the types that openapi-typescript
 * generates from the server's own OpenAPI document (src/schema.ts, `npm run client:generate`).
 *
 *   const client = createAutokestraClient({ baseUrl: 'http://127.0.0.1:8080', apiKey });
 *   const { data, error } = await client.GET('/api/v1/executions/{id}', { params: { path: { id } } });
 *
 * Every call answers `{ data, error, response }`: `data` is the 2xx body, `error` the error body
 * ({ error: { code, message, details? } }) of the codes that route can answer, told apart by `code`.
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, paths } from './schema';

export type { components, operations, paths } from './schema';

type Schemas = components['schemas'];

// The bodies
export type Workflow = Schemas['WorkflowDto'];
export type WorkflowSummary = Schemas['WorkflowSummaryDto'];
export type Execution = Schemas['ExecutionDto'];
export type ExecutionState = Execution['state'];
export type TaskRun = Schemas['TaskRunDto'];
export type TriggerExecution = Schemas['TriggerExecutionDto'];
export type LogLine = Schemas['LogLineDto'];
export type LogPage = Schemas['LogPageDto'];
export type ApiKey = Schemas['ApiKeyDto'];
export type CreateApiKey = Schemas['CreateApiKeyDto'];
/** 201 of POST /api/v1/api-keys: a new key, `created: true`, with its plaintext `key` (shown once) */
export type CreatedApiKey = Schemas['CreatedApiKeyDto'];
/** 200 of an idempotent POST /api/v1/api-keys: the existing key, `created: false`, no plaintext */
export type ExistingApiKey = Schemas['ExistingApiKeyDto'];
export type RotatedApiKey = Schemas['RotatedApiKeyDto'];
export type Scope = ApiKey['scopes'][number];
export type AuditEvent = Schemas['AuditEventDto'];
export type Tool = Schemas['ToolDto'];
export type ToolCallResult = Schemas['ToolCallResultDto'];

// The errors: one shape, one schema per code
/** The one error shape of every route: `{ error: { code, message, details? } }` */
export type ErrorResponse = Schemas['ErrorResponse'];
/** Any error body's `error`: a union told apart by `code` */
export type ApiError = ErrorResponse['error'];
export type ErrorCode = Schemas['ErrorCode'];
/** The error object of one code, e.g. `ApiErrorOf<'INVALID_WORKFLOW'>` (with its typed `details`) */
export type ApiErrorOf<C extends ErrorCode> = Extract<ApiError, { code: C }>;
export type FieldError = Schemas['FieldError'];
export type WorkflowDiagnostic = Schemas['WorkflowDiagnostic'];
export type ValidationError = Schemas['ValidationError'];
export type InvalidWorkflowError = Schemas['InvalidWorkflowError'];
export type WorkflowIdMismatchError = Schemas['WorkflowIdMismatchError'];
export type InvalidInputsError = Schemas['InvalidInputsError'];
export type MissingApiKeyError = Schemas['MissingApiKeyError'];
export type InvalidApiKeyError = Schemas['InvalidApiKeyError'];
export type ApiKeyExpiredError = Schemas['ApiKeyExpiredError'];
export type ForbiddenError = Schemas['ForbiddenError'];
export type NotFoundError = Schemas['NotFoundError'];
export type MethodNotAllowedError = Schemas['MethodNotAllowedError'];
export type WorkflowDisabledError = Schemas['WorkflowDisabledError'];
export type ExecutionFinishedError = Schemas['ExecutionFinishedError'];
export type IdempotencyKeyReusedError = Schemas['IdempotencyKeyReusedError'];
export type ConflictError = Schemas['ConflictError'];
export type PayloadTooLargeError = Schemas['PayloadTooLargeError'];
export type UnsupportedMediaTypeError = Schemas['UnsupportedMediaTypeError'];
export type RateLimitedError = Schemas['RateLimitedError'];
export type InternalError = Schemas['InternalError'];
export type NotReadyError = Schemas['NotReadyError'];

export interface AutokestraClientOptions extends Omit<ClientOptions, 'baseUrl'> {
  /** the server's root URL, e.g. http://127.0.0.1:8080 (the paths carry /api/v1) */
  baseUrl: string;
  /** an API key: sent as `Authorization: Bearer <key>` on every request */
  apiKey: string;
}

/** `{ data: Workflow }` (200 updated, 201 created) or `{ error }` (400 INVALID_WORKFLOW, ...) */
export type ApplyWorkflowResult = Awaited<ReturnType<typeof applyWorkflowWith>>;

export interface AutokestraClient extends Client<paths> {
  /**
   * PUT /api/v1/workflows/{id} with the YAML text as the body (Content-Type: application/yaml):
   * 201 when created, 200 when updated; 400 INVALID_WORKFLOW lists every problem with its line.
   */
  applyWorkflow(id: string, yaml: string, init?: { signal?: AbortSignal }): Promise<ApplyWorkflowResult>;
}

function applyWorkflowWith(client: Client<paths>, id: string, yaml: string, init: { signal?: AbortSignal } = {}) {
  return client.PUT('/api/v1/workflows/{id}', {
    params: { path: { id } },
    body: yaml,
    headers: { 'Content-Type': 'application/yaml' },
    // openapi-fetch JSON-encodes every body by default: the YAML must go as is
    bodySerializer: (text) => text,
    signal: init.signal,
  });
}

/** An openapi-fetch client typed by the server's OpenAPI document, authenticated with `apiKey`. */
export function createAutokestraClient(options: AutokestraClientOptions): AutokestraClient {
  const { apiKey, headers, ...rest } = options;
  const client = createClient<paths>({
    ...rest,
    headers: { ...headersRecord(headers), Authorization: `Bearer ${apiKey}` },
  });
  return Object.assign(client, {
    applyWorkflow: (id: string, yaml: string, init?: { signal?: AbortSignal }) => applyWorkflowWith(client, id, yaml, init),
  });
}

/** The caller's own default headers, whichever form they came in (Authorization is ours). */
function headersRecord(headers: ClientOptions['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers === undefined) return out;
  if (headers instanceof Headers || Array.isArray(headers)) {
    new Headers(headers).forEach((value, name) => {
      if (name !== 'authorization') out[name] = value;
    });
    return out;
  }
  for (const [name, value] of Object.entries(headers)) {
    if (value === null || value === undefined || name.toLowerCase() === 'authorization') continue;
    out[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

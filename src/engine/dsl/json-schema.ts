import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { RE2JS } from 're2js';
import { LRUCache } from 'lru-cache';

/**
 * JSON Schemas written by workflow authors (a json input's `schema`): compiled with Ajv in its
 * 2020-12 mode. Schemas come from API callers, so their cost is bounded: `pattern` and
 * `patternProperties` run on RE2 (linear time, no ReDoS), a schema's encoded size is capped,
 * and no `$ref` is ever fetched (Ajv resolves only refs inside the schema).
 */

/** Encoded (JSON) size of one schema; a typical input schema is well under 1 KiB. */
export const MAX_SCHEMA_BYTES = 64 * 1024;

type RegExpLike = { test(text: string): boolean };

/** Ajv's `code.regExp` hook: RE2 semantics (a search, like RegExp.test); the `u` flag is RE2's default. */
function re2RegExp(pattern: string): RegExpLike {
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(pattern);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`pattern '${pattern.slice(0, 100)}' is not supported: patterns run on RE2, without lookaround or backreferences (${reason})`);
  }
  // Ajv keys its pattern cache by toString(): one entry per pattern source
  return { test: (text: string) => compiled.test(text), toString: () => `re2:${pattern}` } as RegExpLike;
}
// only read when generating standalone code, which is never done here
re2RegExp.code = 'require("re2js").RE2JS.compile';

function newAjv(): Ajv2020 {
  const ajv = new Ajv2020({
    // unknown keywords are allowed by 2020-12 (annotations); refusing them would refuse valid schemas
    strict: false,
    validateSchema: true,
    allErrors: false,
    code: { regExp: re2RegExp as never },
  });
  addFormats(ajv);
  return ajv;
}

let shared: Ajv2020 | null = null;
function ajv(): Ajv2020 {
  return (shared ??= newAjv());
}
/** Ajv keeps every schema it compiled: a bounded cache of our own decides what stays. */
const compiled = new LRUCache<string, ValidateFunction>({
  max: 500,
  dispose: (validate) => ajv().removeSchema(validate.schema as object),
});

export type SchemaValidator = ValidateFunction;
export type SchemaCompileResult = { ok: true; validate: SchemaValidator } | { ok: false; problem: string };

/**
 * Compiles `schema` (cached by its JSON text, so each distinct schema is compiled once per
 * process). Returns a message saying what is wrong when it is not a usable 2020-12 schema.
 */
export function compileJsonSchema(schema: Record<string, unknown>): SchemaCompileResult {
  let key: string;
  try {
    key = JSON.stringify(schema);
  } catch {
    return { ok: false, problem: 'is not a JSON value' };
  }
  if (key.length > MAX_SCHEMA_BYTES) return { ok: false, problem: `is ${key.length} bytes encoded; a schema may be at most ${MAX_SCHEMA_BYTES}` };
  const cached = compiled.get(key);
  if (cached) return { ok: true, validate: cached };
  // compile a copy: Ajv keeps a reference to the object it is given
  const copy = JSON.parse(key) as Record<string, unknown>;
  try {
    const validate = ajv().compile(copy);
    compiled.set(key, validate);
    return { ok: true, validate };
  } catch (error) {
    ajv().removeSchema(copy);
    return { ok: false, problem: `is not a valid JSON Schema (2020-12): ${schemaProblem(error)}` };
  }
}

function schemaProblem(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // Ajv's meta-schema errors read "schema is invalid: data/properties/x/type must be ..."
  const text = message.replace(/^schema is invalid: /, '').replace(/\bdata(?=[/ .])/g, 'schema');
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
}

/** One readable sentence for the first validation error: where in the value, and what to fix. */
export function describeSchemaError(errors: readonly ErrorObject[] | null | undefined): string {
  const first = errors?.[0];
  if (!first) return 'does not match the input schema';
  const at = first.instancePath === '' ? '' : ` at ${first.instancePath}`;
  let what = first.message ?? 'is invalid';
  if (first.keyword === 'additionalProperties') what = `must not have property '${String(first.params.additionalProperty)}'`;
  if (first.keyword === 'required') what = `must have property '${String(first.params.missingProperty)}'`;
  if (first.keyword === 'enum') what = `must be one of ${JSON.stringify(first.params.allowedValues)}`.slice(0, 300);
  return `does not match the input schema${at}: ${what}`;
}

/**
 * # Expressions: `{{ }}` templates (syntax reference)
 *
 * Any string in a workflow may hold templates. The language inside `{{ }}` is CEL, the Common
 * Expression Language (https://github.com/google/cel-spec), evaluated by `@marcbachmann/cel-js`:
 * no loops, no recursion, no JavaScript eval, no access to JS prototypes or methods.
 *
 * ## Variables
 * | name        | value                                                                     |
 * |-------------|---------------------------------------------------------------------------|
 * | `inputs`    | the execution's inputs (map)                                              |
 * | `vars`      | the workflow's `variables` (map)                                          |
 * | `outputs`   | outputs of tasks that already ran, by task id (map)                       |
 * | `execution` | facts about the execution: id, workflow, namespace, ... (map)             |
 * | `item`      | inside `foreach`: the current item; elsewhere `null`                      |
 * | `index`     | inside `foreach`: the item's 0-based position (int); elsewhere `null`     |
 * | `error`     | inside `errors` handlers: `{message, taskId}`; elsewhere `null`           |
 * | `secret('NAME')` | the secret's value (string); undefined secret = error. Its value is  |
 * |             | masked as `***` wherever it would be logged or stored.                    |
 *
 * ## Syntax cheatsheet
 * - fields: `inputs.day`, `outputs.fetch.body.count`; ids with `-` or other characters use the
 *   index form: `outputs['fetch-data'].body`, `inputs['my-input']`
 * - lists: `inputs.days[0]`, `size(inputs.days)`, `inputs.days.map(d, d + '!')`,
 *   `.filter(x, x > 1)`, `.exists(x, ...)`, `.all(x, ...)`, `.exists_one(x, ...)`, `[1, 2] + [3]`,
 *   `'a' in ['a', 'b']`, `list.join(', ')`
 * - strings: `'a' + "b"`, `s.contains('x')`, `s.startsWith()`, `s.endsWith()`, `s.lowerAscii()`,
 *   `s.upperAscii()`, `s.trim()`, `s.split(',')`, `s.substring(1, 3)`, `s.indexOf('x')`,
 *   `size(s)`, `s.matches('^[a-z]+$')`, raw strings `r'\d'`, triple-quoted `'''...'''`
 * - logic: `&&`, `||`, `!`, `a ? b : c`, `==`, `!=`, `<`, `<=`, `>`, `>=`
 * - arithmetic: `+ - * / %` (int division truncates: `7 / 2 == 3`; `7.0 / 2 == 3.5`)
 * - conversions: `string(x)`, `int(x)`, `double(x)`, `bool('true')`, `dyn(x)`, `type(x)`,
 *   `timestamp('2024-01-01T00:00:00Z')`, `duration('90s')`
 * - presence: `has(outputs.fetch)` and `has(outputs.fetch.body.count)` test a key (field
 *   syntax only); for ids with `-` use `'fetch-data' in outputs`; optional chaining
 *   `outputs.?fetch.?body.orValue({})`, `inputs[?'my-input'].orValue('default')`
 * - local names: `cel.bind(total, outputs.a.n + outputs.b.n, total > 10 ? 'big' : 'small')`
 * - comments: `// to the end of the line`
 *
 * ## Templates and result types
 * - A string that is exactly one template (whitespace around it allowed) keeps the value's type:
 *   `"{{ inputs.n + 1 }}"` gives the number 3, `"{{ outputs.fetch.body }}"` an object,
 *   `"{{ [1, 2] }}"` a list, `"{{ null }}"` null.
 * - Otherwise each template is replaced by its string form inside the text: strings as they are,
 *   numbers and booleans as in JSON, lists and maps as JSON, null as an empty string.
 * - Results are always plain JSON values: ints become JS numbers, bytes a base64 string,
 *   timestamps an ISO-8601 string, durations like `"90s"`. A non-finite number (`1.0 / 0.0`) is
 *   an error. Objects and arrays are rendered deeply (values only, keys are left as they are).
 * - To write a literal `{{`, put it in a string expression: `{{ '{{' }}`.
 *
 * ## Numbers
 * Numbers coming from data (inputs, outputs, JSON bodies) are doubles; number literals without a
 * dot (`1`, `0`) are CEL ints, with a dot (`1.5`) doubles. Comparisons across int and double work
 * (`outputs.pick.count > 0` is true for 3 and 3.5), and mixed arithmetic is allowed and gives a
 * double (`inputs.n + 1` with n = 2 gives 3). Consequence: `inputs.n / 2` with n = 3 gives 1.5;
 * write `int(inputs.n) / 2` for integer division. `index` and `size(...)` are ints.
 * Ints beyond 2^53 lose precision when returned as JS numbers.
 *
 * ## Missing keys and errors
 * Reading a key that does not exist is an error (`no such key: 'x' in outputs.fetch`), as is a
 * type mismatch (`'a' + 1`), an unknown variable or an undefined secret: the task using the
 * template fails with an ExpressionError naming the expression (never a secret's value).
 * Guard with `has(...)`, `'key' in map`, optional chaining `.?key.orValue(default)` or a ternary.
 *
 * ## Conditions (the `if` task)
 * `condition` is either a template (`"{{ outputs.pick.count > 0 }}"`) or a bare expression
 * (`"outputs.pick.count > 0"`). The result should be a boolean; otherwise: null -> false,
 * number -> false when 0, string -> 'true'/'yes'/'on'/'1' true and 'false'/'no'/'off'/'0'/
 * 'null'/'' false (case-insensitive, trimmed; any other string is an error), list/map -> true
 * when non-empty.
 *
 * ## Limits (evaluation is bounded)
 * - each expression's source is at most 64 KiB (`maxTemplateLength`), at most 5,000 AST nodes,
 *   nesting depth 64, 1,000 elements per list/map literal;
 * - comprehensions (`map`, `filter`, `all`, `exists`, `exists_one`) and `cel.bind` may be nested
 *   at most 2 deep (nested iteration multiplies work);
 * - `matches()` needs a literal pattern in RE2 syntax and runs on RE2 (linear time, no backtracking);
 * - a result holds at most 1,000,000 values (`maxResultNodes`);
 * - while it runs, each evaluation is metered (budget.ts): work units, the size of every list,
 *   map and string an operator produces, wall-clock time, and the caller's deadline (a task's
 *   timeout). Exceeding one throws an ExpressionError (ExpressionTimeoutError for the deadline).
 */
import {
  CACHE_SIZE,
  DEFAULT_MAX_TEMPLATE_LENGTH,
  Lru,
  collectFromAst,
  compile,
  describeError,
  maskWith,
  meterResult,
  withEvalState,
  type EvalState,
  type References,
  type SecretResolver,
} from './cel';
import { DeadlineExceededError, type ExpressionLimits } from './budget';
import { ExpressionError, ExpressionTimeoutError, truncateExpression } from './errors';
import { scanTemplate, singleExpression, type ScanResult } from './template';
import { DEFAULT_MAX_RESULT_NODES, stringify, toCondition, toPlain } from './values';

export { ExpressionError, ExpressionTimeoutError } from './errors';
export { DEFAULT_EXPRESSION_LIMITS, type ExpressionLimits } from './budget';
export { SecretMasker } from './secret-masker';
export { truthiness } from './values';
export type { SecretResolver, References } from './cel';

export interface ExpressionContext {
  inputs?: Record<string, unknown>;
  vars?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
  execution?: Record<string, unknown>;
  item?: unknown;
  index?: number;
  error?: { message: string; taskId: string | null } | null;
}

export interface RenderOptions {
  /** where secret('NAME') looks values up; without it every secret() call fails */
  secrets?: SecretResolver;
  /** called with every value secret() returns, so callers can mask it */
  onSecretUsed?: (value: string) => void;
  /** longest source of one `{{ }}` expression, default 64 KiB */
  maxTemplateLength?: number;
  /** most values in one expression's result, default 1,000,000 */
  maxResultNodes?: number;
  /** the evaluation budget (work, sizes, time); unset fields take DEFAULT_EXPRESSION_LIMITS */
  limits?: Partial<ExpressionLimits>;
  /** epoch ms: evaluating past it throws an ExpressionTimeoutError (the task's timeout) */
  deadline?: number | null;
}

/** Longest text whose template split is cached (longer texts are scanned each time). */
const MAX_CACHED_TEXT = 16 * 1024;
const MAX_RENDER_DEPTH = 256;
const scans = new Lru<ScanResult>(CACHE_SIZE);

function scan(text: string): ScanResult {
  if (text.length > MAX_CACHED_TEXT) return scanTemplate(text);
  let s = scans.get(text);
  if (!s) {
    s = scanTemplate(text);
    scans.set(text, s);
  }
  return s;
}

function unterminatedError(u: { excerpt: string }): ExpressionError {
  return ExpressionError.of(u.excerpt, "unterminated '{{' (no matching '}}')");
}

/** The values handed to CEL: missing maps are empty, missing scalars null, index an int. */
function celContext(ctx: ExpressionContext | undefined): Record<string, unknown> {
  const index = ctx?.index;
  return {
    inputs: ctx?.inputs ?? {},
    vars: ctx?.vars ?? {},
    outputs: ctx?.outputs ?? {},
    execution: ctx?.execution ?? {},
    item: ctx?.item === undefined ? null : ctx.item,
    index: typeof index === 'number' && Number.isSafeInteger(index) ? BigInt(index) : (index ?? null),
    error: ctx?.error ?? null,
  };
}

/** Copies plain data, turning objects that have an own "constructor" key into Maps. */
function sanitize(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== 'object' || depth > MAX_RENDER_DEPTH) return value;
  if (Array.isArray(value)) return value.map((v) => sanitize(v, depth + 1));
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const entries = Object.keys(value).map((k) => [k, sanitize((value as Record<string, unknown>)[k], depth + 1)] as const);
  if (Object.hasOwn(value, 'constructor')) return new Map(entries);
  const out: Record<string, unknown> = Object.create(null);
  for (const [k, v] of entries) out[k] = v;
  return out;
}

class Renderer {
  private cel: Record<string, unknown> | null = null;
  private sanitized = false;
  private readonly maxLength: number;
  private readonly maxNodes: number;

  constructor(
    private readonly ctx: ExpressionContext | undefined,
    private readonly state: EvalState,
    opts: RenderOptions | undefined,
  ) {
    this.maxLength = opts?.maxTemplateLength ?? DEFAULT_MAX_TEMPLATE_LENGTH;
    this.maxNodes = opts?.maxResultNodes ?? DEFAULT_MAX_RESULT_NODES;
  }

  /** Evaluates one expression source (without the braces) to a plain JSON value. */
  evaluate(source: string, shown: string): unknown {
    const c = compile(source, this.maxLength);
    if (!c.ok) throw ExpressionError.of(shown, c.reason);
    this.cel ??= celContext(this.ctx);
    let raw: unknown;
    try {
      try {
        raw = c.run(this.cel);
      } catch (err) {
        // Data with an own "constructor" key (JSON allows it) confuses the library's type
        // detection: retry once with such objects turned into Maps.
        if ((err as { code?: unknown })?.code !== 'unsupported_type' || this.sanitized) throw err;
        this.sanitized = true;
        this.cel = sanitize(this.cel, 0) as Record<string, unknown>;
        raw = c.run(this.cel);
      }
      if (raw instanceof Promise) throw new Error('asynchronous expressions are not supported');
      meterResult(c, raw, this.state);
      return toPlain(raw, this.maxNodes);
    } catch (err) {
      if (err instanceof ExpressionError) throw err;
      if (err instanceof DeadlineExceededError) throw new ExpressionTimeoutError(maskWith(this.state, shown));
      throw ExpressionError.of(maskWith(this.state, shown), maskWith(this.state, describeError(err, this.state.used.length > 0)));
    }
  }

  string(text: string): unknown {
    if (!text.includes('{{')) return text;
    const s = scan(text);
    if (s.unterminated) throw unterminatedError(s.unterminated);
    const single = singleExpression(s.segments);
    if (single) return this.evaluate(single.source, `{{${single.source}}}`);
    let out = '';
    for (const seg of s.segments) {
      out += seg.kind === 'text' ? seg.value : stringify(this.evaluate(seg.source, `{{${seg.source}}}`));
    }
    return out;
  }

  deep(value: unknown, depth: number): unknown {
    if (typeof value === 'string') return this.string(value);
    if (value === null || typeof value !== 'object') return value;
    if (depth > MAX_RENDER_DEPTH) throw new ExpressionError('', 'value to render is nested too deeply');
    if (Array.isArray(value)) return value.map((v) => this.deep(v, depth + 1));
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return value;
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      Object.defineProperty(out, key, {
        value: this.deep((value as Record<string, unknown>)[key], depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
}

/**
 * Renders a value deeply: strings with `{{ }}` are evaluated; arrays and plain objects are
 * copied with their values rendered (keys untouched); other values are returned as they are.
 * A string that is exactly one `{{ expr }}` keeps the result's type.
 */
export function renderValue(value: unknown, ctx: ExpressionContext, opts?: RenderOptions): unknown {
  return withEvalState(opts, (state) => new Renderer(ctx, state, opts).deep(value, 0));
}

/** Renders one string (see renderValue); strings without `{{` are returned unchanged. */
export function renderString(text: string, ctx: ExpressionContext, opts?: RenderOptions): unknown {
  if (typeof text !== 'string') return text;
  if (!text.includes('{{')) return text;
  return withEvalState(opts, (state) => new Renderer(ctx, state, opts).string(text));
}

/**
 * Evaluates a condition to a boolean: `'{{ expr }}'` or a bare `'expr'` (text with several
 * templates is rendered to a string first). Non-boolean results follow the documented
 * truthiness; a result with no truth value (an arbitrary string) is an ExpressionError.
 */
export function evaluateCondition(text: string, ctx: ExpressionContext, opts?: RenderOptions): boolean {
  if (typeof text === 'boolean') return text;
  if (typeof text !== 'string') throw new ExpressionError('', `condition must be a string, got ${typeof text}`);
  if (text.trim() === '') throw new ExpressionError('', 'condition is empty');
  return withEvalState(opts, (state) => {
    const r = new Renderer(ctx, state, opts);
    const value = text.includes('{{') ? r.string(text) : r.evaluate(text, text);
    return toCondition(value, text);
  });
}

/**
 * Static check at apply time: one message per template with a syntax error, an unterminated
 * `{{`, an unknown variable or function, a type error detectable without data, or a refused
 * construct (see Limits). [] when fine. Never evaluates.
 */
export function checkTemplates(text: string, opts?: { maxTemplateLength?: number }): string[] {
  if (typeof text !== 'string' || !text.includes('{{')) return [];
  const s = scan(text);
  const problems: string[] = [];
  for (const seg of s.segments) {
    if (seg.kind !== 'expr') continue;
    const c = compile(seg.source, opts?.maxTemplateLength ?? DEFAULT_MAX_TEMPLATE_LENGTH);
    if (!c.ok) problems.push(`'${truncateExpression(`{{${seg.source}}}`)}': ${c.reason}`);
  }
  if (s.unterminated) {
    problems.push(`'${truncateExpression(s.unterminated.excerpt)}': unterminated '{{' (no matching '}}')`);
  }
  return problems;
}

/** checkTemplates for a condition: a template, or a bare expression when there is no `{{`. */
export function checkCondition(text: string, opts?: { maxTemplateLength?: number }): string[] {
  if (typeof text !== 'string') return [];
  if (text.includes('{{')) return checkTemplates(text, opts);
  if (text.trim() === '') return ['condition is empty'];
  const c = compile(text, opts?.maxTemplateLength ?? DEFAULT_MAX_TEMPLATE_LENGTH);
  return c.ok ? [] : [`'${truncateExpression(text)}': ${c.reason}`];
}

/**
 * Names a text's templates refer to literally: `outputs.<id>` / `outputs['<id>']`, `inputs.x`,
 * `vars.x`, `secret('NAME')` (for "references a task that does not run before it" checks).
 * Templates that do not compile are skipped (checkTemplates reports them). With
 * `bareExpression`, a text without `{{` is read as one expression (conditions).
 */
export function collectReferences(text: string, opts?: { bareExpression?: boolean }): References {
  const sets = { inputs: new Set<string>(), vars: new Set<string>(), outputs: new Set<string>(), secrets: new Set<string>() };
  const sources: string[] = [];
  if (typeof text === 'string') {
    if (text.includes('{{')) {
      for (const seg of scan(text).segments) if (seg.kind === 'expr') sources.push(seg.source);
    } else if (opts?.bareExpression && text.trim() !== '') {
      sources.push(text);
    }
  }
  for (const src of sources) {
    const c = compile(src);
    if (c.ok) collectFromAst(c.run.ast, sets);
  }
  return { inputs: [...sets.inputs], vars: [...sets.vars], outputs: [...sets.outputs], secrets: [...sets.secrets] };
}

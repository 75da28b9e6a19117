/**
 * The CEL side of the expression module: one shared Environment, a bounded cache of compiled
 * expressions, static guards, the secret() function and the translation of library errors.
 */
import { Environment, EvaluationError, ParseError, TypeError as CelTypeError } from '@marcbachmann/cel-js';
import { RE2JS } from 're2js';
import { SecretMasker } from './secret-masker';
import { BudgetExceededError, DEFAULT_EXPRESSION_LIMITS, DeadlineExceededError, EvaluationBudget, type ExpressionLimits } from './budget';

export interface SecretResolver {
  resolve(name: string): string | undefined;
}

/** Default limit on the source length of one `{{ }}` expression. */
export const DEFAULT_MAX_TEMPLATE_LENGTH = 64 * 1024;
/** Comprehensions (all/exists/exists_one/map/filter) and cel.bind nested deeper than this are refused. */
export const MAX_SCOPE_NESTING = 2;
/** Compiled expressions kept in memory. */
export const CACHE_SIZE = 1000;

const LIMITS = {
  maxAstNodes: 5000,
  maxDepth: 64,
  maxListElements: 1000,
  maxMapEntries: 1000,
  maxCallArguments: 32,
};

/** The variables every expression may use. */
export const VARIABLES = ['inputs', 'vars', 'outputs', 'execution', 'item', 'index', 'error'] as const;

// ---------------------------------------------------------------------------------------------
// Per-evaluation state. Evaluation is synchronous (no async function is registered), so a
// module-level "current evaluation" is safe; it is saved and restored around every evaluation
// so re-entrant calls (a callback that renders again) work.

export interface EvalState {
  secrets?: SecretResolver;
  onSecretUsed?: (value: string) => void;
  /** secret values resolved by this evaluation, used to mask error messages */
  used: string[];
  /** the work and size budget shared by every expression of this evaluation */
  budget: EvaluationBudget;
}

export interface EvalOptions {
  secrets?: SecretResolver;
  onSecretUsed?: (value: string) => void;
  /** budget limits; unset fields take the defaults */
  limits?: Partial<ExpressionLimits>;
  /** epoch ms: evaluation past this instant fails with a DeadlineExceededError (a task's timeout) */
  deadline?: number | null;
}

let current: EvalState | null = null;

export function withEvalState<T>(opts: EvalOptions | undefined, fn: (state: EvalState) => T): T {
  const prev = current;
  const limits = opts?.limits ? { ...DEFAULT_EXPRESSION_LIMITS, ...opts.limits } : DEFAULT_EXPRESSION_LIMITS;
  const state: EvalState = {
    secrets: opts?.secrets,
    onSecretUsed: opts?.onSecretUsed,
    used: [],
    budget: new EvaluationBudget(limits, opts?.deadline ?? null),
  };
  current = state;
  try {
    return fn(state);
  } finally {
    current = prev;
  }
}

class SecretNotDefinedError extends Error {
  constructor(readonly secretName: string) {
    super(`secret '${secretName}' is not defined`);
  }
}

function resolveSecret(name: string): string {
  const state = current;
  const value = state?.secrets?.resolve(name);
  if (typeof value !== 'string' || !state) throw new SecretNotDefinedError(name);
  if (value !== '') {
    state.used.push(value);
    state.onSecretUsed?.(value);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Environment

let env: Environment | null = null;

function arith(op: string): (a: number, b: number) => number {
  switch (op) {
    case '+':
      return (a, b) => a + b;
    case '-':
      return (a, b) => a - b;
    case '*':
      return (a, b) => a * b;
    case '/':
      return (a, b) => a / b;
    default:
      return (a, b) => a % b;
  }
}

function environment(): Environment {
  if (env) return env;
  const e = new Environment({
    unlistedVariablesAreDyn: false,
    homogeneousAggregateLiterals: false,
    enableOptionalTypes: true,
    limits: LIMITS,
  });
  for (const name of ['inputs', 'vars', 'outputs', 'execution']) e.registerVariable(name, 'map');
  for (const name of ['item', 'index', 'error']) e.registerVariable(name, 'dyn');
  // JSON numbers reach CEL as doubles while literals without a dot are ints: make mixed
  // arithmetic work (the result is a double), and give doubles a remainder.
  for (const op of ['+', '-', '*', '/', '%']) {
    const f = arith(op);
    e.registerOperator(`double ${op} int: double`, (a: number, b: bigint) => f(a, Number(b)));
    e.registerOperator(`int ${op} double: double`, (a: bigint, b: number) => f(Number(a), b));
  }
  e.registerOperator('double % double: double', (a: number, b: number) => a % b);
  e.registerFunction({
    signature: 'secret(string): string',
    handler: resolveSecret,
    description: 'The value of the secret NAME (environment or secrets file); masked as *** in logs',
  });
  e.registerFunction({ signature: `string.${RE2_MATCHES}(string): bool`, handler: re2Matches, description: 'matches() on RE2' });
  meterEvaluator(e);
  env = e;
  return e;
}

// ---------------------------------------------------------------------------------------------
// Metering. The library evaluates every child node through its evaluator's `run(ast, ctx)`;
// wrapping that one method lets each evaluation's budget see every node and every value an
// operator or function produces. The library keeps the evaluator private, so it is captured
// once from a probe evaluation. (The root node is evaluated directly; Renderer meters its value.)

/** Nodes that only read or pass on existing values (charging them would bill the data, not the work). */
const READ_OPS = new Set(['value', 'id', '.', '.?', '[]', '[?]', 'accuValue', '?:', '||', '&&']);

interface CelEvaluator {
  run(ast: CelNode, ctx: unknown): unknown;
}
interface CelNode {
  op: string;
  args: any;
  evaluate(ev: CelEvaluator, ast: CelNode, ctx: unknown): unknown;
}

/** Meters the root node's value (the library evaluates the root directly, not through `run`). */
export function meterResult(run: Compiled & { ok: true }, value: unknown, state: EvalState): void {
  if (!READ_OPS.has((run.run.ast as CelNode).op)) state.budget.produced(value);
  state.budget.settle();
}

function meterEvaluator(e: Environment): void {
  const probe = e.parse('true') as unknown as Evaluate;
  let evaluator: CelEvaluator | null = null;
  (probe.ast as CelNode).evaluate = (ev) => {
    evaluator = ev;
    return true;
  };
  probe({});
  if (!evaluator) throw new Error('expression engine: evaluator not found (library internals changed)');
  const ev: CelEvaluator = evaluator;
  ev.run = function meteredRun(this: CelEvaluator, ast: CelNode, ctx: unknown): unknown {
    const budget = current?.budget;
    if (!budget) return ast.evaluate(this, ast, ctx);
    budget.step();
    const value = ast.evaluate(this, ast, ctx);
    if (!READ_OPS.has(ast.op)) budget.produced(value);
    return value;
  };
}

// ---------------------------------------------------------------------------------------------
// matches() on RE2 (CEL specifies RE2 semantics; RE2 matches in time linear in the input)

/** Patterns whose compiled RE2 program is larger than this are refused (`(a{1000}){1000}`). */
export const MAX_REGEX_PROGRAM_SIZE = 20_000;
const regexes = new Map<string, RE2JS | string>();

/** The compiled pattern, or the reason it is refused. Cached: patterns are literals. */
function re2(pattern: string): RE2JS | string {
  const hit = regexes.get(pattern);
  if (hit !== undefined) return hit;
  let result: RE2JS | string;
  try {
    result = RE2JS.compile(pattern);
    if (result.programSize() > MAX_REGEX_PROGRAM_SIZE) result = `the pattern is too complex (program size ${result.programSize()}, limit ${MAX_REGEX_PROGRAM_SIZE})`;
  } catch (err) {
    const description = (err as { getDescription?: () => string }).getDescription?.() ?? (err as Error).message;
    result = `invalid regular expression (RE2 syntax): ${description}`;
  }
  if (regexes.size >= CACHE_SIZE) regexes.clear();
  regexes.set(pattern, result);
  return result;
}

/**
 * The library's own `string.matches` uses a backtracking JavaScript RegExp. Compilation renames
 * every `.matches(` call to this function, so all of them (the root node included) run on RE2.
 */
export const RE2_MATCHES = 'matches_re2';

function re2Matches(subject: string, pattern: string): boolean {
  const re = re2(pattern);
  if (typeof re === 'string') throw new Error(`matches(): ${re}`);
  // RE2's work is linear in the input; bill it like a string of that length.
  current?.budget.charge(subject.length >>> 4);
  return re.test(subject);
}

// ---------------------------------------------------------------------------------------------
// Compilation with a bounded LRU cache

type Evaluate = ((ctx: Record<string, unknown>) => unknown) & { ast: any };

export type Compiled = { ok: true; run: Evaluate } | { ok: false; reason: string };

export class Lru<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }
  get size(): number {
    return this.map.size;
  }
  clear(): void {
    this.map.clear();
  }
}

const compiled = new Lru<Compiled>(CACHE_SIZE);

/** For tests and diagnostics. */
export function compiledCacheSize(): number {
  return compiled.size;
}

export function compile(source: string, maxLength = DEFAULT_MAX_TEMPLATE_LENGTH): Compiled {
  if (source.length > maxLength) {
    return { ok: false, reason: `expression is too long (${source.length} characters, limit ${maxLength})` };
  }
  const hit = compiled.get(source);
  if (hit) return hit;
  const result = compileUncached(source);
  compiled.set(source, result);
  return result;
}

function compileUncached(source: string): Compiled {
  if (source.trim() === '') return { ok: false, reason: 'empty expression' };
  let run: Evaluate;
  try {
    run = environment().parse(source) as unknown as Evaluate;
  } catch (err) {
    return { ok: false, reason: describeError(err) };
  }
  const guard = checkGuards(run.ast);
  if (guard) return { ok: false, reason: guard };
  walkAst(run.ast, (node) => {
    if (node.op === 'rcall' && node.args[0] === 'matches') node.args[0] = RE2_MATCHES;
  });
  const checked = (run as unknown as { check(): { valid: boolean; error?: unknown } }).check();
  if (!checked.valid) return { ok: false, reason: describeError(checked.error) };
  return { ok: true, run };
}

// ---------------------------------------------------------------------------------------------
// Static guards on the AST

const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

function isNode(x: unknown): x is { op: string; args: any } {
  return typeof x === 'object' && x !== null && typeof (x as { op?: unknown }).op === 'string' && 'args' in x;
}

function childNodes(node: { op: string; args: any }): any[] {
  const out: any[] = [];
  const visit = (a: unknown): void => {
    if (isNode(a)) out.push(a);
    else if (Array.isArray(a)) a.forEach(visit);
  };
  if (node.op !== 'value' && node.op !== 'id') visit(node.args);
  return out;
}

/** Walks the AST; `fn` gets each node and the number of comprehension/bind scopes around it. */
export function walkAst(root: unknown, fn: (node: { op: string; args: any }, scopes: number) => void): void {
  const walk = (node: { op: string; args: any }, scopes: number): void => {
    fn(node, scopes);
    if (node.op === 'rcall') {
      const [name, receiver, args] = node.args as [string, any, any[]];
      if (COMPREHENSIONS.has(name) && (args.length === 2 || args.length === 3)) {
        walk(receiver, scopes);
        for (let i = 1; i < args.length; i++) walk(args[i], scopes + 1);
        return;
      }
      if (name === 'bind' && receiver?.op === 'id' && receiver.args === 'cel' && args.length === 3) {
        walk(args[1], scopes);
        walk(args[2], scopes + 1);
        return;
      }
    }
    for (const child of childNodes(node)) walk(child, scopes);
  };
  if (isNode(root)) walk(root, 0);
}

function checkGuards(ast: unknown): string | null {
  let problem: string | null = null;
  walkAst(ast, (node, scopes) => {
    if (problem) return;
    if (scopes > MAX_SCOPE_NESTING) {
      problem = `comprehensions and cel.bind may be nested at most ${MAX_SCOPE_NESTING} deep`;
      return;
    }
    if (node.op === 'rcall' && node.args[0] === 'matches') {
      const pattern = node.args[2]?.[0];
      if (!isNode(pattern) || pattern.op !== 'value' || typeof pattern.args !== 'string') {
        problem = 'matches() needs a string literal as its pattern';
        return;
      }
      const bad = regexProblem(pattern.args);
      if (bad) problem = `matches() pattern refused: ${bad}`;
    }
  });
  return problem;
}

/** Why a matches() pattern is refused (RE2 syntax, program size), or null. */
export function regexProblem(pattern: string): string | null {
  const re = re2(pattern);
  return typeof re === 'string' ? re : null;
}

// ---------------------------------------------------------------------------------------------
// References (for the workflow validator)

export interface References {
  inputs: string[];
  vars: string[];
  outputs: string[];
  secrets: string[];
}

export function collectFromAst(ast: unknown, into: { [K in keyof References]: Set<string> }): void {
  walkAst(ast, (node) => {
    if (node.op === '.' || node.op === '.?' || node.op === '[]' || node.op === '[?]') {
      const [receiver, key] = node.args as [any, any];
      if (!isNode(receiver) || receiver.op !== 'id') return;
      const name = receiver.args as string;
      if (name !== 'inputs' && name !== 'vars' && name !== 'outputs') return;
      const k = typeof key === 'string' ? key : isNode(key) && key.op === 'value' && typeof key.args === 'string' ? key.args : null;
      if (k !== null) into[name].add(k);
    } else if (node.op === 'call' && node.args[0] === 'secret') {
      const arg = node.args[1]?.[0];
      if (isNode(arg) && arg.op === 'value' && typeof arg.args === 'string') into.secrets.add(arg.args);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Errors

function sourceOf(node: any): string | null {
  if (!node || typeof node.input !== 'string' || typeof node.start !== 'number' || typeof node.end !== 'number') {
    return null;
  }
  const s = node.input.slice(node.start, node.end).trim();
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
}

/**
 * A one-line reason for an error thrown (or returned) by the library. With `readsSecret` (the
 * failed evaluation resolved a secret), the library's text is withheld: functions quote their
 * operands (`invalid duration 'xyz'`), and an operand derived from a secret (a substring, an
 * upper-cased copy) is not the secret's value, so masking values cannot catch it. Only the
 * error's category is kept.
 */
export function describeError(err: unknown, readsSecret = false): string {
  if (err instanceof SecretNotDefinedError || err instanceof BudgetExceededError) return err.message;
  if (err instanceof DeadlineExceededError) return err.message;
  if (readsSecret && !(err instanceof ParseError)) {
    const code = (err as { code?: unknown })?.code;
    const category = typeof code === 'string' && /^[a-z_]{1,40}$/.test(code) ? ` (${code.replace(/_/g, ' ')})` : '';
    return `evaluation failed${category}; details are withheld because the expression reads a secret`;
  }
  return describeLibraryError(err).replaceAll(RE2_MATCHES, 'matches');
}

function describeLibraryError(err: unknown): string {
  if (err instanceof ParseError) {
    const col = typeof err.range?.start === 'number' ? ` (at column ${err.range.start + 1})` : '';
    return `syntax error: ${err.summary}${col}`;
  }
  if (err instanceof EvaluationError || err instanceof CelTypeError) {
    const summary = err.summary ?? err.message;
    const code = err.code;
    if (code === 'no_such_key') {
      const m = /^No such key: (.*)$/s.exec(summary);
      const node = err.node as any;
      const where =
        node && (node.op === '.' || node.op === '[]' || node.op === '.?' || node.op === '[?]')
          ? sourceOf(node.args?.[0])
          : null;
      if (m && where) return `no such key: '${m[1]}' in ${where}`;
      if (m) return `no such key: '${m[1]}'`;
    }
    if (code === 'unknown_variable') {
      return `${summary} (available: ${VARIABLES.join(', ')}, secret('NAME'))`;
    }
    return summary.charAt(0).toLowerCase() + summary.slice(1);
  }
  if (err instanceof RangeError) return `evaluation exceeded a resource limit (${err.message})`;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Masks the secret values resolved during this evaluation out of a message. */
export function maskWith(state: EvalState | null, text: string): string {
  if (!state || state.used.length === 0) return text;
  return new SecretMasker(state.used).mask(text);
}

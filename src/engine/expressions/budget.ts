/**
 * The resource budget of one evaluation. Static limits (AST size, nesting) cannot bound what an
 * expression builds from data: `inputs.big.map(x, inputs.big.map(y, inputs.big))` is a short
 * source that allocates |big|^3 values. So every node the evaluator runs is counted, and every
 * value an operator or function *produces* is measured as soon as it exists, long before it
 * could grow the heap: a list or map beyond `maxCollectionSize`, a string beyond
 * `maxStringLength`, or total work beyond `maxCost` stops the evaluation.
 *
 * Cost units: one per node evaluated (a comprehension iteration evaluates at least one node),
 * plus the size of each newly produced list or map, plus one per 16 characters of each newly
 * produced string. Values read from the context (`outputs.fetch.body`) are not charged: they
 * already exist, and reading them is one step.
 */
export interface ExpressionLimits {
  /** total work units of one evaluation */
  maxCost: number;
  /** elements of any list or entries of any map an evaluation produces */
  maxCollectionSize: number;
  /** characters of any string an evaluation produces */
  maxStringLength: number;
  /** wall-clock bound of one evaluation, in ms (evaluation is synchronous: this protects the event loop) */
  maxEvaluationMs: number;
}

export const DEFAULT_EXPRESSION_LIMITS: Readonly<ExpressionLimits> = Object.freeze({
  maxCost: 1_000_000,
  maxCollectionSize: 100_000,
  maxStringLength: 1_048_576,
  maxEvaluationMs: 1_000,
});

/** A budget ran out. `reason` is safe to show: it names limits, never values. */
export class BudgetExceededError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'BudgetExceededError';
  }
}

/** The evaluation passed its deadline (the task's timeout). */
export class DeadlineExceededError extends Error {
  constructor() {
    super('evaluation did not finish before the deadline');
    this.name = 'DeadlineExceededError';
  }
}

/** How often (in nodes) the clock is read: reading it per node would cost more than the nodes. */
const CLOCK_EVERY = 256;

export class EvaluationBudget {
  private cost = 0;
  private nodes = 0;
  private readonly stopAt: number;
  /** lists and maps already charged (a comprehension returns its growing accumulator per step) */
  private readonly charged = new WeakSet<object>();
  /** set once a limit is hit: the library swallows some errors (`a || b`), the budget does not */
  failure: Error | null = null;

  constructor(
    readonly limits: ExpressionLimits,
    /** epoch ms after which evaluation stops with a DeadlineExceededError (a task's timeout), or null */
    private readonly deadline: number | null,
    private readonly now: () => number = Date.now,
  ) {
    const start = now();
    this.stopAt = start + limits.maxEvaluationMs;
  }

  /** Called before each node is evaluated. */
  step(): void {
    if (this.failure) throw this.failure;
    if (++this.cost > this.limits.maxCost) this.fail(this.costMessage());
    if (++this.nodes % CLOCK_EVERY === 0) this.checkClock();
  }

  /** Called with each value an operator or function produced. */
  produced(value: unknown): void {
    if (typeof value === 'string') {
      if (value.length > this.limits.maxStringLength) {
        this.fail(`a string grew to ${value.length} characters; the limit is ${this.limits.maxStringLength} (engine.expressions.maxStringLength)`);
      }
      this.charge(value.length >>> 4);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const size = Array.isArray(value) ? value.length : value instanceof Map || value instanceof Set ? value.size : -1;
    if (size < 0) return;
    if (size > this.limits.maxCollectionSize) {
      this.fail(`a ${Array.isArray(value) ? 'list' : 'map'} grew to ${size} entries; the limit is ${this.limits.maxCollectionSize} (engine.expressions.maxCollectionSize)`);
    }
    if (this.charged.has(value)) return;
    this.charged.add(value);
    this.charge(size);
  }

  /** Work done outside the node walk (a regular expression scanning its input). */
  charge(units: number): void {
    this.cost += units;
    if (this.cost > this.limits.maxCost) this.fail(this.costMessage());
  }

  /** Throws the recorded failure, if any: an evaluation that hit a limit never yields a result. */
  settle(): void {
    if (this.failure) throw this.failure;
    this.checkClock();
  }

  private checkClock(): void {
    const t = this.now();
    if (this.deadline !== null && t > this.deadline) {
      this.failure = new DeadlineExceededError();
      throw this.failure;
    }
    if (t > this.stopAt) this.fail(`evaluation took longer than ${this.limits.maxEvaluationMs} ms (engine.expressions.maxEvaluationMs)`);
  }

  private costMessage(): string {
    return `evaluation needs more than ${this.limits.maxCost} work units (engine.expressions.maxCost); iterate over less data or split the work across tasks`;
  }

  private fail(reason: string): never {
    this.failure = new BudgetExceededError(`expression budget exceeded: ${reason}`);
    throw this.failure;
  }
}

/** Longest expression excerpt an error message carries. */
export const MAX_EXPRESSION_IN_MESSAGE = 200;

export function truncateExpression(text: string, max = MAX_EXPRESSION_IN_MESSAGE): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * Raised for every problem with a `{{ }}` template: syntax, unterminated `{{`, a failed
 * evaluation (missing key, bad types), an undefined secret, limits.
 * The message names the expression (truncated to 200 characters) and the reason. It never
 * contains a secret's value: reasons coming from the library are masked with every secret
 * resolved during the evaluation that failed.
 */
export class ExpressionError extends Error {
  /** Stable machine-readable code, in the style of the engine's other errors. */
  readonly code = 'EXPRESSION_ERROR';

  constructor(
    /** the offending expression (or template), truncated to 200 characters */
    readonly expression: string,
    /** why it failed, without the expression */
    readonly reason: string,
  ) {
    super(expression ? `expression '${expression}': ${reason}` : reason);
    this.name = 'ExpressionError';
  }

  static of(expression: string, reason: string): ExpressionError {
    return new ExpressionError(truncateExpression(expression), reason);
  }
}

/** An evaluation ran past its deadline (the task's timeout): the runner reports it as a timeout. */
export class ExpressionTimeoutError extends ExpressionError {
  constructor(expression: string) {
    super(truncateExpression(expression), 'evaluation did not finish before the task timed out');
    this.name = 'ExpressionTimeoutError';
  }
}

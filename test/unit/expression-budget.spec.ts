import { describe, expect, it } from 'vitest';
import { ExpressionError, ExpressionTimeoutError, renderString, renderValue, type ExpressionContext } from '../../src/engine/expressions';

const list = (n: number) => Array.from({ length: n }, (_, i) => i);
const ctx: ExpressionContext = {
  inputs: { l1k: list(1000), l30k: list(30_000), l50k: list(50_000), s: 'x'.repeat(300_000), big: 'y'.repeat(1_000_000) },
};

function failure(template: string, opts?: Parameters<typeof renderString>[2]): { error: ExpressionError; ms: number } {
  const started = Date.now();
  try {
    renderString(template, ctx, opts);
  } catch (error) {
    expect(error).toBeInstanceOf(ExpressionError);
    return { error: error as ExpressionError, ms: Date.now() - started };
  }
  throw new Error(`expected ${template} to fail`);
}

describe('expression budget', () => {
  // Each bomb is a short source whose intermediate values grow far beyond its result: the
  // budget must stop it while the values are still small, and fast.
  it.each([
    ['nested map inside size()', '{{ size(inputs.l1k.map(x, inputs.l1k.map(y, [x, y]))) }}', /work units/],
    ['nested map building lists of lists', '{{ size(inputs.l1k.map(x, inputs.l1k.map(y, inputs.l1k))) }}', /work units|grew/],
    ['cel.bind doubling a list', '{{ cel.bind(a, inputs.l30k + inputs.l30k, cel.bind(b, a + a, size(b + b))) }}', /list grew to/],
    ['a chain of list concatenations', `{{ size(${Array(60).fill('inputs.l30k').join(' + ')}) }}`, /list grew to/],
    ['cel.bind doubling a string', '{{ cel.bind(a, inputs.s + inputs.s, cel.bind(b, a + a, size(b + b))) }}', /string grew to/],
    ['a chain of string concatenations', `{{ size(${Array(40).fill('inputs.s').join(' + ')}) }}`, /string grew to/],
    ['join of one big string repeated', `{{ size([${Array(50).fill('inputs.big').join(', ')}].join('')) }}`, /string grew to/],
    ['filter over a nested comprehension', '{{ inputs.l1k.filter(x, inputs.l1k.exists(y, y == -1)).size() }}', /work units/],
    ['all() over a nested comprehension', '{{ inputs.l1k.all(x, inputs.l1k.all(y, y >= 0)) }}', /work units/],
    ['exists_one over a nested comprehension', '{{ inputs.l1k.exists_one(x, inputs.l1k.exists_one(y, y == x)) }}', /work units/],
    ['map producing a huge map', '{{ size(inputs.l1k.map(x, inputs.l1k.map(y, {"k": y}))) }}', /work units/],
  ])('stops %s with EXPRESSION_ERROR', (_name, template, reason) => {
    const { error, ms } = failure(template);
    expect(error.code).toBe('EXPRESSION_ERROR');
    expect(error.message).toMatch(/expression budget exceeded/);
    expect(error.message).toMatch(reason);
    expect(ms).toBeLessThan(2000);
  });

  it('bounds a whole render, not each template alone', () => {
    const value = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, '{{ size(inputs.l1k.map(x, inputs.l1k.map(y, y))) }}']));
    expect(() => renderValue(value, ctx, { limits: { maxCost: 5_000_000 } })).toThrow(/work units/);
  });

  it('lets legitimate work through: a map over 50,000 items, a regex over a long string', () => {
    expect((renderString('{{ inputs.l50k.map(x, x * 2) }}', ctx) as number[]).length).toBe(50_000);
    expect(renderString('{{ inputs.l50k.filter(x, x % 2 == 0).size() }}', ctx)).toBe(25_000);
    expect(renderString('{{ inputs.big.matches("^y+$") }}', ctx)).toBe(true);
    expect(renderString('{{ size(inputs.s + inputs.s) }}', ctx)).toBe(600_000);
  });

  it('reads existing data without charging it: referencing a big output in a loop is cheap', () => {
    expect(renderString('{{ inputs.l1k.map(x, inputs.big).size() }}', ctx)).toBe(1000);
    expect(renderString('{{ inputs.big }}', ctx, { limits: { maxStringLength: 10 } })).toHaveLength(1_000_000);
  });

  it('takes its limits from the options', () => {
    expect(failure('{{ inputs.l1k.map(x, x) }}', { limits: { maxCollectionSize: 100 } }).error.message).toMatch(/list grew to 101 entries; the limit is 100/);
    expect(failure('{{ inputs.l1k.map(x, x) }}', { limits: { maxCost: 500 } }).error.message).toMatch(/more than 500 work units/);
    expect(failure('{{ "ab" + "cd" }}', { limits: { maxStringLength: 3 } }).error.message).toMatch(/string grew to 4/);
    expect(renderString('{{ "ab" + "cd" }}', ctx, { limits: { maxStringLength: 4 } })).toBe('abcd');
  });

  it('stops an evaluation that runs past its time limit', () => {
    const { error, ms } = failure('{{ inputs.l1k.map(x, inputs.l1k.map(y, y)) }}', { limits: { maxCost: 1e12, maxCollectionSize: 1e9, maxEvaluationMs: 50 } });
    expect(error.message).toMatch(/longer than 50 ms/);
    expect(ms).toBeLessThan(500);
  });

  it('stops at the deadline (a task timeout) with an ExpressionTimeoutError', () => {
    const { error, ms } = failure('{{ inputs.l1k.map(x, inputs.l1k.map(y, y)) }}', {
      limits: { maxCost: 1e12, maxCollectionSize: 1e9, maxEvaluationMs: 60_000 },
      deadline: Date.now() + 30,
    });
    expect(error).toBeInstanceOf(ExpressionTimeoutError);
    expect(ms).toBeLessThan(500);
  });

  it('keeps a budget failure even where the language would swallow an error (a || b, exists)', () => {
    expect(failure('{{ size(inputs.l1k.map(x, inputs.l1k.map(y, y))) > 0 || true }}').error.message).toMatch(/budget/);
    expect(failure('{{ inputs.l1k.exists(x, size(inputs.l1k.map(y, y)) > 5000 || x > 5000) }}').error.message).toMatch(/budget/);
  });
});

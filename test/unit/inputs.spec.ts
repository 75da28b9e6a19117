import { describe, expect, it } from 'vitest';
import type { InputDefinition, InputType } from '../../src/engine/dsl/types';
import { coerceInputs } from '../../src/engine/runtime/inputs';

function def(id: string, type: InputType, extra: Partial<InputDefinition> = {}): InputDefinition {
  return { id, type, required: false, description: null, ...extra };
}

function ok(defs: InputDefinition[], given: Record<string, unknown> | undefined): Record<string, unknown> {
  const result = coerceInputs(defs, given);
  if (!result.ok) throw new Error(`expected ok, got ${JSON.stringify(result.problems)}`);
  return result.inputs;
}

function problems(defs: InputDefinition[], given: Record<string, unknown> | undefined) {
  const result = coerceInputs(defs, given);
  if (result.ok) throw new Error(`expected problems, got ${JSON.stringify(result.inputs)}`);
  return result.problems;
}

describe('coerceInputs: coercion per type', () => {
  it('integer: accepts numbers and integer text ("42" → 42, "-7" → -7)', () => {
    expect(ok([def('i', 'integer')], { i: '42' })).toEqual({ i: 42 });
    expect(ok([def('i', 'integer')], { i: ' -7 ' })).toEqual({ i: -7 });
    expect(ok([def('i', 'integer')], { i: 5 })).toEqual({ i: 5 });
  });

  it('integer: rejects fractions, non-numeric text, unsafe integers and booleans', () => {
    for (const value of ['4.5', 4.5, 'abc', '', '1e3', 2 ** 60, true, [1], { n: 1 }]) {
      expect(problems([def('i', 'integer')], { i: value }), JSON.stringify(value)).toEqual([{ field: 'inputs.i', message: expect.stringMatching(/integer/) }]);
    }
  });

  it('number: accepts numbers and numeric text ("3.5" → 3.5); rejects empty text, NaN-like text and Infinity', () => {
    expect(ok([def('n', 'number')], { n: '3.5' })).toEqual({ n: 3.5 });
    expect(ok([def('n', 'number')], { n: -0.25 })).toEqual({ n: -0.25 });
    expect(ok([def('n', 'number')], { n: '1e3' })).toEqual({ n: 1000 });
    for (const value of ['', '   ', 'abc', 'NaN', 'Infinity', Infinity, false]) {
      expect(problems([def('n', 'number')], { n: value }), String(value)).toHaveLength(1);
    }
  });

  it('boolean: accepts true/false and the text "true"/"false" only', () => {
    expect(ok([def('b', 'boolean')], { b: 'true' })).toEqual({ b: true });
    expect(ok([def('b', 'boolean')], { b: 'false' })).toEqual({ b: false });
    expect(ok([def('b', 'boolean')], { b: false })).toEqual({ b: false });
    for (const value of ['yes', 'TRUE', '1', 1, 0]) {
      expect(problems([def('b', 'boolean')], { b: value }), String(value)).toEqual([{ field: 'inputs.b', message: expect.stringMatching(/boolean/) }]);
    }
  });

  it('string: accepts text, and numbers/booleans as their text; rejects objects and lists', () => {
    expect(ok([def('s', 'string')], { s: 'x' })).toEqual({ s: 'x' });
    expect(ok([def('s', 'string')], { s: 12 })).toEqual({ s: '12' });
    expect(ok([def('s', 'string')], { s: true })).toEqual({ s: 'true' });
    expect(problems([def('s', 'string')], { s: { a: 1 } })).toHaveLength(1);
    expect(problems([def('s', 'string')], { s: ['a'] })).toHaveLength(1);
  });

  it('datetime: normalizes ISO-8601 to UTC ISO strings', () => {
    expect(ok([def('d', 'datetime')], { d: '2026-01-31T12:00:00+02:00' })).toEqual({ d: '2026-01-31T10:00:00.000Z' });
    expect(ok([def('d', 'datetime')], { d: '2026-01-31T12:00:00Z' })).toEqual({ d: '2026-01-31T12:00:00.000Z' });
    expect(ok([def('d', 'datetime')], { d: '2026-01-31 12:00:00.5z' })).toEqual({ d: '2026-01-31T12:00:00.500Z' });
    expect(ok([def('d', 'datetime')], { d: '2026-01-31T12:00-0130' })).toEqual({ d: '2026-01-31T13:30:00.000Z' });
  });

  it('datetime: refuses a date or time without a zone (a different instant on every server)', () => {
    for (const value of ['2026-01-31', '2026-01-31T12:00:00', '2026-01-31T12:00', '2026-02-30T00:00:00Z', '2026-01-31T24:00:00Z', '2026-01-31T12:00:00+25:00']) {
      expect(problems([def('d', 'datetime')], { d: value }), value).toEqual([{ field: 'inputs.d', message: expect.stringContaining('with a time zone') }]);
    }
  });

  it('datetime: rejects non-ISO text, impossible dates and non-strings', () => {
    for (const value of ['yesterday', '31/01/2026', '2026-13-45T00:00:00Z', 1767225600000, '']) {
      expect(problems([def('d', 'datetime')], { d: value }), String(value)).toEqual([{ field: 'inputs.d', message: expect.any(String) }]);
    }
  });

  it('json: any JSON value; text holding JSON is parsed, other text stays text', () => {
    expect(ok([def('j', 'json')], { j: { a: [1, 2] } })).toEqual({ j: { a: [1, 2] } });
    expect(ok([def('j', 'json')], { j: '{"a":[1,2]}' })).toEqual({ j: { a: [1, 2] } });
    expect(ok([def('j', 'json')], { j: '[1,2]' })).toEqual({ j: [1, 2] });
    expect(ok([def('j', 'json')], { j: 'plain' })).toEqual({ j: 'plain' });
    expect(ok([def('j', 'json')], { j: 3 })).toEqual({ j: 3 });
  });
});

describe('coerceInputs: presence, defaults and unknown inputs', () => {
  it('fills defaults for missing inputs, null for optional ones without a default', () => {
    const defs = [def('a', 'integer', { default: 2 }), def('b', 'string')];
    expect(ok(defs, undefined)).toEqual({ a: 2, b: null });
    expect(ok(defs, {})).toEqual({ a: 2, b: null });
    expect(ok(defs, { a: null })).toEqual({ a: 2, b: null });
    expect(ok(defs, { a: '9' })).toEqual({ a: 9, b: null });
  });

  it('a required input that is missing or null is a problem; a default satisfies required', () => {
    expect(problems([def('r', 'string', { required: true })], {})).toEqual([{ field: 'inputs.r', message: expect.stringMatching(/required/) }]);
    expect(problems([def('r', 'string', { required: true })], { r: null })).toHaveLength(1);
    expect(ok([def('r', 'string', { required: true, default: 'x' })], {})).toEqual({ r: 'x' });
  });

  it('rejects unknown inputs, naming the declared ones', () => {
    const p = problems([def('a', 'string')], { a: 'x', zzz: 1 });
    expect(p).toEqual([{ field: 'inputs.zzz', message: expect.stringContaining('a') }]);
    expect(problems([], { x: 1 })).toEqual([{ field: 'inputs.x', message: expect.stringMatching(/unknown/) }]);
  });

  it('reports every problem at once, one per input', () => {
    const defs = [def('i', 'integer', { required: true }), def('b', 'boolean'), def('d', 'datetime'), def('ok', 'string')];
    const p = problems(defs, { b: 'maybe', d: 'soon', ok: 'fine', extra: true });
    expect(p.map((x) => x.field).sort()).toEqual(['inputs.b', 'inputs.d', 'inputs.extra', 'inputs.i']);
  });

  it('rejects inputs larger than 256 KiB in total', () => {
    const p = problems([def('s', 'string')], { s: 'x'.repeat(300 * 1024) });
    expect(p).toEqual([{ field: 'inputs', message: expect.stringMatching(/larger/) }]);
  });
});

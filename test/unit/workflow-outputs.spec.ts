import { describe, expect, it } from 'vitest';
import type { OutputDefinition, InputType, InputDefinition } from '../../src/engine/dsl/types';
import { renderValue } from '../../src/engine/expressions';
import { computeWorkflowOutputs } from '../../src/engine/runtime/workflow-outputs';
import { coerceInputs } from '../../src/engine/runtime/inputs';

function out(id: string, type: InputType, value: string): OutputDefinition {
  return { id, type, value, description: null };
}

const context = {
  inputs: { day: '2026-12-03T10:00:00+01:00', n: 3 },
  outputs: { sum: { total: 42.5, count: '7', flag: 'true', items: [1, 2], text: '{"a":1}', none: null } },
};
const render = (template: string) => renderValue(template, context);

describe('declared outputs: rendering and coercion', () => {
  it('renders each value and coerces it to its type', () => {
    const result = computeWorkflowOutputs(
      [
        out('total', 'number', '{{ outputs.sum.total }}'),
        out('count', 'integer', '{{ outputs.sum.count }}'),
        out('flag', 'boolean', '{{ outputs.sum.flag }}'),
        out('day', 'datetime', '{{ inputs.day }}'),
        out('label', 'string', 'n={{ inputs.n }}'),
        out('n', 'string', '{{ inputs.n }}'),
        out('items', 'json', '{{ outputs.sum.items }}'),
        out('text', 'json', '{{ outputs.sum.text }}'),
        out('missing', 'json', '{{ outputs.sum.none }}'),
      ],
      render,
    );
    expect(result).toEqual({
      ok: true,
      values: {
        total: 42.5,
        count: 7,
        flag: true,
        day: '2026-12-03T09:00:00.000Z',
        label: 'n=3',
        n: '3',
        items: [1, 2],
        // json outputs keep rendered text as text
        text: '{"a":1}',
        missing: null,
      },
    });
  });

  it('names the output, its type, what was wrong and what it got', () => {
    expect(computeWorkflowOutputs([out('total', 'integer', '{{ outputs.sum.total }}')], render)).toEqual({
      ok: false,
      message: "output 'total' (type integer) must be an integer, got number 42.5 from '{{ outputs.sum.total }}'",
    });
    expect(computeWorkflowOutputs([out('when', 'datetime', '{{ outputs.sum.count }}')], render)).toMatchObject({
      ok: false,
      message: expect.stringMatching(/^output 'when' \(type datetime\) must be .*, got string '7'/),
    });
    expect(computeWorkflowOutputs([out('b', 'boolean', '{{ outputs.sum.items }}')], render)).toMatchObject({
      ok: false,
      message: expect.stringContaining('got a list [1,2]'),
    });
  });

  it('a null value fits only json: for other types it is reported as missing', () => {
    expect(computeWorkflowOutputs([out('x', 'number', '{{ outputs.sum.none }}')], render)).toEqual({
      ok: false,
      message: "output 'x' (type number): '{{ outputs.sum.none }}' gave no value (null); check the task id and field it reads",
    });
  });

  it('an evaluation error (a misspelled field) names the output', () => {
    expect(computeWorkflowOutputs([out('x', 'number', '{{ outputs.sum.nope }}')], render)).toEqual({
      ok: false,
      message: "output 'x': its value could not be computed: expression '{{ outputs.sum.nope }}': no such key: 'nope' in outputs.sum",
    });
  });

  it('stops at the first failing output', () => {
    const result = computeWorkflowOutputs([out('a', 'integer', 'x'), out('b', 'integer', 'y')], render);
    expect(result).toMatchObject({ ok: false, message: expect.stringMatching(/^output 'a'/) });
  });
});

describe('json inputs with a schema', () => {
  const payload: InputDefinition = {
    id: 'payload',
    type: 'json',
    required: true,
    description: null,
    schema: { type: 'object', properties: { n: { type: 'integer', minimum: 1 }, code: { type: 'string', pattern: '^(a+)+$' } }, required: ['n'], additionalProperties: false },
  };

  it('accepts a value that matches (JSON text included, as the CLI passes it)', () => {
    expect(coerceInputs([payload], { payload: { n: 2 } })).toEqual({ ok: true, inputs: { payload: { n: 2 } } });
    expect(coerceInputs([payload], { payload: '{"n": 3}' })).toEqual({ ok: true, inputs: { payload: { n: 3 } } });
  });

  it('one problem per field, saying where in the value and what to fix', () => {
    expect(coerceInputs([payload, { ...payload, id: 'other' }], { payload: { n: 0 }, other: { n: 1, m: 1 } })).toEqual({
      ok: false,
      problems: [
        { field: 'inputs.payload', message: 'does not match the input schema at /n: must be >= 1' },
        { field: 'inputs.other', message: "does not match the input schema: must not have property 'm'" },
      ],
    });
    expect(coerceInputs([payload], { payload: { code: 'a' } })).toEqual({
      ok: false,
      problems: [{ field: 'inputs.payload', message: "does not match the input schema: must have property 'n'" }],
    });
  });

  it('runs patterns on RE2: a catastrophic-backtracking pattern answers at once', () => {
    const started = Date.now();
    const result = coerceInputs([payload], { payload: { n: 1, code: `${'a'.repeat(5000)}!` } });
    expect(result).toEqual({ ok: false, problems: [{ field: 'inputs.payload', message: 'does not match the input schema at /code: must match pattern "^(a+)+$"' }] });
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

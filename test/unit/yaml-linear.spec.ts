import { describe, expect, it } from 'vitest';
import { MAX_DIAGNOSTICS, parseWorkflow } from '../../src/engine/dsl';
import { SHAPE_SIZE, yamlShapes } from '../support/yaml-shapes';

/** The bound: a body at the 1 MiB limit is answered in under a second, whatever its shape. */
const BUDGET_MS = 1000;

describe('workflow parsing is linear in the size of the source', () => {
  it.each(yamlShapes('big').map((shape) => [shape.name, shape] as const))('parses %s (1 MiB) in under a second', (_name, shape) => {
    expect(shape.source.length).toBeGreaterThan(SHAPE_SIZE - 20_000);
    expect(shape.source.length).toBeLessThanOrEqual(SHAPE_SIZE);
    const started = performance.now();
    const result = parseWorkflow(shape.source, { shellEnabled: false });
    const elapsed = performance.now() - started;
    expect(elapsed, `${shape.name}: ${elapsed.toFixed(0)} ms`).toBeLessThan(BUDGET_MS);
    if (shape.expected === null) {
      expect(result.ok, JSON.stringify(result).slice(0, 500)).toBe(true);
      return;
    }
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.diagnostics.length).toBeLessThanOrEqual(MAX_DIAGNOSTICS + 1);
    const { path, message, line } = shape.expected;
    const match = result.diagnostics.find((d) => message.test(d.message) && (path === undefined || d.path === path));
    expect(match, JSON.stringify(result.diagnostics.slice(0, 3))).toBeDefined();
    if (line !== undefined) expect(match!.line).toBe(line);
    // A diagnostic names the problem; it never echoes a megabyte of the document.
    for (const d of result.diagnostics) expect(d.message.length + d.path.length).toBeLessThan(1000);
  });

  it('reports duplicate keys at every level with their path and both lines', () => {
    const source = [
      'id: dup', // 1
      'tasks:', // 2
      '  - id: a', // 3
      '    type: log', // 4
      '    message: one', // 5
      '    message: two', // 6
      'labels: {team: a, team: b}', // 7
      'variables:', // 8
      '  "k": 1', // 9
      '  k: 2', // 10
      'id: again', // 11
    ].join('\n');
    const result = parseWorkflow(source, { shellEnabled: false });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.diagnostics).toEqual([
      { path: 'tasks[0].message', message: "duplicate key 'message' (first defined at line 5)", line: 6 },
      { path: 'labels.team', message: "duplicate key 'team' (first defined at line 7)", line: 7 },
      { path: 'variables.k', message: "duplicate key 'k' (first defined at line 9)", line: 10 },
      { path: 'id', message: "duplicate key 'id' (first defined at line 1)", line: 11 },
    ]);
  });

  it('treats keys that read the same once loaded as duplicates (1 and "1")', () => {
    const result = parseWorkflow('id: x\ntasks: [{id: a, type: log, message: hi}]\nvariables: {1: a, "1": b}\n', { shellEnabled: false });
    expect(result.ok ? [] : result.diagnostics).toEqual([{ path: 'variables["1"]', message: "duplicate key '1' (first defined at line 3)", line: 3 }]);
  });

  it('locates problems inside a 60k-key mapping without searching it per problem', () => {
    // 20k problems in one mapping: each is located through one index of the mapping.
    const lines = Array.from({ length: 60_000 }, (_, i) => `  k${i}: ${i % 3 === 0 ? '.inf' : i}`);
    const source = `id: x\ntasks: [{id: a, type: log, message: hi}]\nvariables:\n${lines.join('\n')}\n`;
    const started = performance.now();
    const result = parseWorkflow(source, { shellEnabled: false });
    expect(performance.now() - started).toBeLessThan(BUDGET_MS);
    expect(result.ok ? [] : result.diagnostics.slice(0, 2)).toEqual([
      { path: 'variables.k0', message: 'must be a finite number', line: 4 },
      { path: 'variables.k3', message: 'must be a finite number', line: 7 },
    ]);
  });

  it('charges aliases by what they expand to: values, text and nested aliases', () => {
    const big = 'x'.repeat(200_000);
    const text = `id: x\ntasks: [{id: a, type: log, message: hi}]\nvariables:\n  s: &s "${big}"\n${Array.from({ length: 50 }, (_, i) => `  u${i}: *s`).join('\n')}\n`;
    const result = parseWorkflow(text, { shellEnabled: false });
    expect(result.ok ? [] : result.diagnostics.map((d) => d.message)).toEqual([`the document expands to more than ${8 * 1024 * 1024} characters of text`]);
  });

  it('refuses a circular alias and an unknown alias with their lines', () => {
    const circular = parseWorkflow('id: x\ntasks: [{id: a, type: log, message: hi}]\nvariables:\n  a: &a [1, *a]\n', { shellEnabled: false });
    expect(circular.ok ? [] : circular.diagnostics).toEqual([{ path: '', message: "the alias '*a' refers to a collection that contains it (a circular document)", line: 4 }]);
    const unknown = parseWorkflow('id: x\ntasks: [{id: a, type: log, message: hi}]\nvariables:\n  a: *nope\n', { shellEnabled: false });
    expect(unknown.ok ? [] : unknown.diagnostics).toEqual([{ path: 'variables.a', message: "unknown alias '*nope' (an alias must come after its anchor '&nope')", line: 4 }]);
  });

  it('refuses collection keys and tags outside the YAML 1.2 core schema', () => {
    const result = parseWorkflow('id: x\ntasks: [{id: a, type: log, message: hi}]\nvariables:\n  ? [a, b]\n  : 1\n  d: !!timestamp 2024-01-01\n  n: !!int abc\n', { shellEnabled: false });
    expect(result.ok ? [] : result.diagnostics.map((d) => `${d.path} @${d.line}: ${d.message}`)).toEqual([
      'variables @4: mapping keys must be strings, numbers or booleans',
      "variables.d @6: unsupported YAML tag '!!timestamp' (only the core tags !!str, !!int, !!float, !!bool, !!null, !!seq and !!map are allowed)",
      "variables.n @7: the value does not fit its tag '!!int'",
    ]);
  });
});

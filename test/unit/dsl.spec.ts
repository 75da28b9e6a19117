import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  findReferences,
  parseDurationMs,
  parseWorkflow,
  scanTemplates,
  splitCommandLine,
  type Diagnostic,
  type ForeachTask,
  type ParallelTask,
  type ParseOptions,
  type ParseResult,
  type WorkflowDefinition,
} from '../../src/engine/dsl';

const FIXTURES = join(__dirname, '..', 'fixtures', 'workflows');

/**
 * Fixture headers:
 *   # options: {"shellEnabled": true}          ParseOptions (default: shell disabled)
 *   # expect: <path> @<line or ->: <message>   one line per expected diagnostic, in order
 */
interface Fixture {
  name: string;
  source: string;
  options: ParseOptions;
  expected: string[];
}

function loadFixtures(kind: 'valid' | 'invalid'): Fixture[] {
  const dir = join(FIXTURES, kind);
  return readdirSync(dir)
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const source = readFileSync(join(dir, file), 'utf8');
      const lines = source.split('\n');
      const optionsLine = lines.find((line) => line.startsWith('# options: '));
      return {
        name: file,
        source,
        options: { shellEnabled: false, ...(optionsLine ? JSON.parse(optionsLine.slice('# options: '.length)) : {}) },
        expected: lines.filter((line) => line.startsWith('# expect: ')).map((line) => line.slice('# expect: '.length)),
      };
    });
}

function format(d: Diagnostic): string {
  return `${d.path === '' ? '' : `${d.path} `}@${d.line ?? '-'}: ${d.message}`;
}

function parseOk(source: string, options: ParseOptions = { shellEnabled: false }): WorkflowDefinition {
  const result = parseWorkflow(source, options);
  if (!result.ok) throw new Error(`unexpected diagnostics:\n${result.diagnostics.map(format).join('\n')}`);
  return result.definition;
}

function diagnostics(result: ParseResult): string[] {
  return result.ok ? [] : result.diagnostics.map(format);
}

function fixture(kind: 'valid' | 'invalid', name: string): Fixture {
  const found = loadFixtures(kind).find((f) => f.name === name);
  if (!found) throw new Error(`no fixture ${kind}/${name}`);
  return found;
}

describe('workflow fixtures', () => {
  const valid = loadFixtures('valid');
  const invalid = loadFixtures('invalid');

  it('has enough fixtures', () => {
    expect(valid.length).toBeGreaterThanOrEqual(4);
    expect(invalid.length).toBeGreaterThanOrEqual(25);
  });

  it.each(valid.map((f) => [f.name, f] as const))('valid/%s parses', (_name, f) => {
    expect(diagnostics(parseWorkflow(f.source, f.options))).toEqual([]);
  });

  it.each(invalid.map((f) => [f.name, f] as const))('invalid/%s reports exactly the expected diagnostics', (_name, f) => {
    expect(f.expected.length).toBeGreaterThan(0);
    const result = parseWorkflow(f.source, f.options);
    expect(result.ok).toBe(false);
    expect(diagnostics(result)).toEqual(f.expected);
  });

  it('multiple-problems reports many problems at once', () => {
    const f = fixture('invalid', 'multiple-problems.yaml');
    expect(diagnostics(parseWorkflow(f.source, f.options)).length).toBeGreaterThanOrEqual(8);
  });
});

describe('normalization', () => {
  it('normalizes the docs/dsl.md example', () => {
    const def = parseOk(fixture('valid', 'design-example.yaml').source);
    const common = { description: null, timeoutMs: null, retry: null };
    expect(def).toEqual({
      id: 'nightly-report',
      namespace: 'team.data',
      description: 'Builds the report',
      labels: { team: 'data' },
      inputs: [
        { id: 'day', type: 'string', required: true, description: null },
        { id: 'retries', type: 'integer', required: false, default: 2, description: null },
      ],
      variables: { greeting: 'Hello' },
      timeoutMs: 30 * 60_000,
      concurrency: { limit: 1 },
      tasks: [
        { ...common, id: 'hello', type: 'log', message: '{{ vars.greeting }} {{ inputs.day }}', level: 'info' },
        {
          ...common,
          id: 'fetch',
          type: 'http',
          url: 'https://example.org/api?day={{ inputs.day }}',
          method: 'GET',
          headers: {},
          body: null,
          timeoutMs: 30_000,
          retry: { maxAttempts: 3, delayMs: 1000, backoff: 'exponential', maxDelayMs: null },
        },
        { ...common, id: 'pick', type: 'output', values: { count: '{{ outputs.fetch.body.count }}' } },
        {
          ...common,
          id: 'both',
          type: 'parallel',
          concurrency: null,
          tasks: [
            { ...common, id: 'a', type: 'sleep', durationMs: 1000 },
            { ...common, id: 'b', type: 'log', message: 'b', level: 'info' },
          ],
        },
        {
          ...common,
          id: 'check',
          type: 'if',
          condition: '{{ outputs.pick.count > 0 }}',
          then: [{ ...common, id: 'yes', type: 'log', message: 'some', level: 'info' }],
          else: [{ ...common, id: 'no', type: 'fail', message: 'none' }],
        },
        {
          ...common,
          id: 'each',
          type: 'foreach',
          items: '{{ inputs.days }}',
          concurrency: 4,
          tasks: [{ ...common, id: 'one', type: 'log', message: '{{ item }}', level: 'info' }],
        },
      ],
      errors: [{ ...common, id: 'alert', type: 'log', level: 'error', message: 'failed: {{ error.message }}' }],
      triggers: [{ id: 'nightly', type: 'schedule', cron: '0 2 * * *', timezone: 'UTC', inputs: { day: 'today' } }],
      outputs: [],
      tool: null,
    });
  });

  it('fills every default with explicit values', () => {
    const def = parseOk(fixture('valid', 'minimal.yaml').source);
    expect(def).toEqual({
      id: 'minimal',
      namespace: 'default',
      description: null,
      labels: {},
      inputs: [],
      variables: {},
      timeoutMs: null,
      concurrency: null,
      tasks: [{ id: 'hello', type: 'log', description: null, timeoutMs: null, retry: null, message: 'Hello', level: 'info' }],
      errors: [],
      triggers: [],
      outputs: [],
      tool: null,
    });
  });

  it('normalizes declared outputs, tool settings and a json input schema', () => {
    const def = parseOk(fixture('valid', 'tool-with-outputs.yaml').source);
    expect(def.outputs).toEqual([
      { id: 'total', type: 'number', value: '{{ outputs.sum.total }}', description: 'Revenue' },
      { id: 'top', type: 'json', value: '{{ outputs.sum.top }}', description: null },
      { id: 'nested', type: 'integer', value: '{{ outputs.inner.n }}', description: null },
      { id: 'day', type: 'datetime', value: '{{ inputs.day }}', description: null },
      { id: 'label', type: 'string', value: 'top {{ inputs.limit }}', description: null },
    ]);
    expect(def.tool).toEqual({
      name: 'sales_summary',
      title: 'Sales summary',
      description: 'Totals one day of sales and lists the top products',
      annotations: { title: 'Sales', readOnlyHint: true, idempotentHint: true, destructiveHint: false, openWorldHint: false },
      waitMs: 30_000,
    });
    expect(def.inputs[0]).toEqual({ id: 'day', type: 'datetime', required: true, description: 'The day to total (UTC)' });
    expect(def.inputs[2].schema).toEqual({
      type: 'object',
      properties: { category: { type: 'string', pattern: '^[a-z]+$' } },
      required: ['category'],
      additionalProperties: false,
    });
  });

  it('defaults the tool name to the workflow id and its description to the workflow description', () => {
    expect(parseOk(fixture('valid', 'tool-defaults.yaml').source).tool).toEqual({
      name: 'ping-tool',
      title: null,
      description: 'Answers pong',
      annotations: {},
      waitMs: 30_000,
    });
    // an explicit null is "not set", as for every optional property
    expect(parseOk('id: x\ntasks: [{id: t, type: log, message: hi}]\ntool:\n').tool).toBeNull();
  });

  it('refuses a json input schema larger than the size cap', () => {
    const properties = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`field_${i}`, { type: 'string', description: 'x'.repeat(20) }]));
    const source = `id: big\ninputs:\n  - id: p\n    type: json\n    schema: ${JSON.stringify({ type: 'object', properties })}\ntasks: [{id: t, type: log, message: hi}]\n`;
    expect(diagnostics(parseWorkflow(source, { shellEnabled: false }))).toEqual([
      expect.stringMatching(/^inputs\[0\]\.schema @5: is \d+ bytes encoded; a schema may be at most 65536$/),
    ]);
  });

  it('normalizes nested containers, labels, headers, methods and retry defaults', () => {
    const def = parseOk(fixture('valid', 'nested-containers.yaml').source);
    expect(def.labels).toEqual({ team: 'data', tier: '1', critical: 'true' });
    expect(def.inputs.map((i) => i.default)).toEqual(['2024-05-01T10:00:00Z', 1.5, { a: [1, 2] }, false]);
    const [, fan, after, sub, stop] = def.tasks;
    expect(fan).toMatchObject({ type: 'parallel', concurrency: 2 });
    if (fan.type !== 'parallel') throw new Error('parallel expected');
    const parallel = fan as ParallelTask;
    expect(parallel.tasks[0]).toMatchObject({ id: 'left', durationMs: 500 });
    expect(parallel.tasks[1]).toMatchObject({ id: 'right', type: 'foreach', items: ['a', 'b', 'c'], concurrency: 1 });
    if (parallel.tasks[1].type !== 'foreach') throw new Error('foreach expected');
    expect((parallel.tasks[1] as ForeachTask).tasks[2]).toMatchObject({ id: 'innerIf', type: 'if', else: [] });
    expect(after).toMatchObject({
      method: 'POST',
      headers: { 'X-Count': '3', 'Content-Type': 'application/json' },
      timeoutMs: 3_600_000,
      retry: { maxAttempts: 5, delayMs: 500, backoff: 'exponential', maxDelayMs: 60_000 },
    });
    expect(sub).toMatchObject({ type: 'subflow', workflowId: 'other.flow', inputs: { x: '{{ outputs.after.status }}' } });
    expect(stop).toMatchObject({ type: 'fail', message: 'failed by fail task' });
    expect(def.triggers).toEqual([
      { id: 'every-5-seconds', type: 'schedule', cron: '*/5 * * * * *', timezone: 'Europe/Paris', inputs: {} },
      { id: 'daily', type: 'schedule', cron: '0 3 * * 1-5', timezone: 'UTC', inputs: {} },
    ]);
  });

  it('splits shell commands into argv when shell is enabled', () => {
    const f = fixture('valid', 'shell-allowed.yaml');
    const def = parseOk(f.source, f.options);
    expect(def.tasks[1]).toMatchObject({
      type: 'shell',
      commands: [
        ['echo', 'hello {{ inputs.name }}', 'single quoted'],
        ['printf', '%s\\n', 'two words'],
        ['ls', '-la', "{{ outputs['prev'].dir }}"],
      ],
      env: { GREETING: 'hi', COUNT: '2' },
      timeoutMs: 600_000,
    });
  });

  it('produces a definition that survives a JSON round trip', () => {
    const def = parseOk(fixture('valid', 'nested-containers.yaml').source);
    expect(JSON.parse(JSON.stringify(def))).toEqual(def);
  });

  it('accepts explicit nulls for optional properties', () => {
    const def = parseOk('id: n\ndescription:\ntimeout: ~\nlabels:\ntasks:\n  - {id: a, type: http, url: "https://x.org", headers: ~, retry: ~}\n');
    expect(def).toMatchObject({ description: null, timeoutMs: null, labels: {} });
    expect(def.tasks[0]).toMatchObject({ headers: {}, retry: null, method: 'GET' });
  });
});

describe('resource limits', () => {
  it('rejects a 9-level billion laughs document quickly', () => {
    let source = 'id: laughs\ntasks: [{id: a, type: log, message: hi}]\nvariables:\n  l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
    for (let i = 1; i <= 9; i++) source += `  l${i}: &l${i} [${Array(9).fill(`*l${i - 1}`).join(', ')}]\n`;
    source += `  use: {message: *l9}\n`;
    const started = performance.now();
    const result = parseWorkflow(source, { shellEnabled: false });
    const elapsed = performance.now() - started;
    expect(result.ok).toBe(false);
    expect(diagnostics(result).join('\n')).toMatch(/too many alias expansions/);
    expect(elapsed).toBeLessThan(500);
  });

  it('bounds alias expansion by maxAliasCount', () => {
    const source = 'id: x\nvariables:\n  a: &a [1, 2]\n  b: [*a, *a, *a]\ntasks: [{id: t, type: log, message: hi}]\n';
    expect(parseWorkflow(source, { shellEnabled: false }).ok).toBe(true);
    expect(diagnostics(parseWorkflow(source, { shellEnabled: false, maxAliasCount: 0 })).join()).toMatch(/too many alias expansions/);
  });

  it('rejects circular aliases without hanging', () => {
    const result = parseWorkflow('id: x\nvariables:\n  a: &a [*a]\ntasks: [{id: t, type: log, message: hi}]\n', { shellEnabled: false });
    expect(result.ok).toBe(false);
  });

  it('rejects very deep documents without overflowing the stack', () => {
    for (const source of [
      'id: deep\nvariables: ' + '['.repeat(100_000) + ']'.repeat(100_000) + '\n',
      'id: deep\nvariables: ' + '{a: '.repeat(50_000) + '}'.repeat(50_000) + '\n',
      'id: deep\nvariables: ' + '['.repeat(100_000) + '\n',
      'id: deep\nvariables:\n' + Array.from({ length: 2_000 }, (_, i) => `${' '.repeat(i + 1)}k:`).join('\n') + '\n',
      'id: deep\nvariables:\n  ' + '- '.repeat(50_000) + 'x\n',
    ]) {
      const result = parseWorkflow(source, { shellEnabled: false });
      expect(result.ok).toBe(false);
      expect(diagnostics(result).join('\n')).toMatch(/nested too deeply/);
    }
  });

  it('honours maxDepth', () => {
    const source = 'id: x\nvariables: {a: {b: {c: 1}}}\ntasks: [{id: t, type: log, message: hi}]\n';
    expect(parseWorkflow(source, { shellEnabled: false }).ok).toBe(true);
    expect(diagnostics(parseWorkflow(source, { shellEnabled: false, maxDepth: 3 }))).toEqual([
      '@2: the document is nested too deeply (more than 3 levels)',
    ]);
  });

  it('caps the number of tasks at 1000', () => {
    const tasks = (n: number) => Array.from({ length: n }, (_, i) => `  - {id: t${i}, type: log, message: hi}`).join('\n');
    expect(parseWorkflow(`id: many\ntasks:\n${tasks(1000)}\n`, { shellEnabled: false }).ok).toBe(true);
    expect(diagnostics(parseWorkflow(`id: many\ntasks:\n${tasks(1001)}\n`, { shellEnabled: false }))).toEqual([
      'tasks @2: too many tasks: 1001 (at most 1000 per workflow, nested tasks and errors included)',
    ]);
  });

  it('caps the number of diagnostics', () => {
    const tasks = Array.from({ length: 600 }, (_, i) => `  - {id: t${i}, type: log}`).join('\n');
    const result = diagnostics(parseWorkflow(`id: many\ntasks:\n${tasks}\n`, { shellEnabled: false }));
    expect(result).toHaveLength(501);
    expect(result[500]).toBe('@-: too many problems: 100 more not shown');
  });

  it('stays fast when aliases repeat many problems', () => {
    const bad = `  bad: &bad [${Array(2_000).fill('.inf').join(', ')}]\n`;
    const uses = Array.from({ length: 50 }, (_, i) => `  u${i}: *bad\n`).join('');
    const started = performance.now();
    const result = diagnostics(parseWorkflow(`id: x\ntasks: [{id: t, type: log, message: hi}]\nvariables:\n${bad}${uses}`, { shellEnabled: false }));
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(result).toHaveLength(501);
    expect(result[0]).toBe('variables.bad[0] @4: must be a finite number');
    expect(result[500]).toMatch(/^@-: too many problems: \d+ more not shown$/);
  });

  it('handles odd top-level sources', () => {
    expect(diagnostics(parseWorkflow('', { shellEnabled: false }))).toEqual(['@1: the workflow is empty']);
    expect(diagnostics(parseWorkflow('# only a comment\n', { shellEnabled: false }))).toEqual(['@1: the workflow is empty']);
    expect(diagnostics(parseWorkflow('just text', { shellEnabled: false }))).toEqual([
      '@1: a workflow must be a YAML mapping (with id, tasks, ...)',
    ]);
    expect(diagnostics(parseWorkflow('id: a\nid: b\ntasks: [{id: t, type: log, message: hi}]\n', { shellEnabled: false }))).toEqual([
      "id @2: duplicate key 'id' (first defined at line 1)",
    ]);
  });
});

describe('parseDurationMs', () => {
  it.each([
    ['500ms', 500],
    ['0s', 0],
    ['5s', 5_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['PT5S', 5_000],
    ['PT1H30M', 5_400_000],
    ['P1D', 86_400_000],
    ['P1DT2H', 93_600_000],
    ['P2W', 1_209_600_000],
    ['PT0.5S', 500],
    ['pt10m', 600_000],
  ])('%s -> %d ms', (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });

  it.each(['', '5', '5 s', '-5s', '1.5h', '5sec', 'P', 'PT', 'P1DT', 'P1Y', 'P1M', 'PT1.2345S', '99999999999999999d', ' 5s'])(
    'rejects %j',
    (text) => {
      expect(parseDurationMs(text)).toBeNull();
    },
  );

  it('rejects non-strings', () => {
    expect(parseDurationMs(5 as unknown as string)).toBeNull();
  });
});

describe('splitCommandLine', () => {
  it.each([
    ['echo hello world', ['echo', 'hello', 'world']],
    ['  spaced\t\tout  ', ['spaced', 'out']],
    [`echo 'single $HOME "x"'`, ['echo', 'single $HOME "x"']],
    [`echo "double \\"quoted\\" \\$HOME \\n"`, ['echo', 'double "quoted" $HOME \\n']],
    [`echo a\\ b c\\"d`, ['echo', 'a b', 'c"d']],
    [`echo '' ""`, ['echo', '', '']],
    [`pre'fix'"ed"`, ['prefixed']],
    ['echo $(rm -rf /) `x` | y > z', ['echo', '$(rm', '-rf', '/)', '`x`', '|', 'y', '>', 'z']],
    [`echo {{ outputs['a'].body }} "n={{ inputs["n"] }}"`, ['echo', "{{ outputs['a'].body }}", 'n={{ inputs["n"] }}']],
    ['echo {{ unterminated', ['echo', '{{', 'unterminated']],
    ['line \\\ncontinued', ['line', 'continued']],
    ['', []],
  ])('%j', (cmd, argv) => {
    expect(splitCommandLine(cmd)).toEqual(argv);
  });

  it.each([`echo 'open`, `echo "open`, `echo "a\\"`])('returns null for %j', (cmd) => {
    expect(splitCommandLine(cmd)).toBeNull();
  });
});

describe('template scanning', () => {
  it('finds templates, including unterminated ones and braces inside string literals', () => {
    expect(scanTemplates('a {{ x }} b {{ "}}" + y }} c {{ z')).toEqual([
      { expression: ' x ', start: 2, terminated: true },
      { expression: ' "}}" + y ', start: 12, terminated: true },
      { expression: ' z', start: 29, terminated: false },
    ]);
    expect(scanTemplates('no templates')).toEqual([]);
  });

  it('finds output references and loop variables, ignoring members and literals', () => {
    expect(findReferences(` outputs.a.b + outputs [ 'b-c' ] + outputs?.d + x.outputs.e + "outputs.f" + size(outputs["g"]) `)).toEqual({
      outputs: [{ taskId: 'a' }, { taskId: 'b-c' }, { taskId: 'd' }, { taskId: 'g' }],
      loopVariables: [],
    });
    expect(findReferences('item.name + index + items.item + 1e5 + outputs.my-task').outputs).toEqual([
      { taskId: 'my', dashedId: 'my-task' },
    ]);
    expect(findReferences('item.name + index + items.item').loopVariables).toEqual(['item', 'index']);
  });
});

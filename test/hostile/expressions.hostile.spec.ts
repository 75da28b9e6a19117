/**
 * Hostile expressions (issue 7, "Bounded expressions"): workflows applied and executed on a real
 * `autokestra serve` process (a separate process, so a bomb that slips through kills only the
 * child and fails the cases, not the test runner; its heap is capped for the same reason).
 *
 * - Intermediate-value bombs (nested `map` inside `size()`, `cel.bind` doubling, `l + l`
 *   chains, long concatenations, `join` of huge lists, comprehension iteration bombs) fail
 *   their task with `error.kind: EXPRESSION_ERROR` within a few seconds.
 * - Backtracking regular expressions in `matches()` either are refused at apply (400
 *   INVALID_WORKFLOW) or run in well under a second, while /health/live answers within 100 ms.
 * - A task `timeout` bounds its expression evaluation.
 * - The server stays up and still runs ordinary workflows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnTestServe, stopProcess, type ServeProcess } from '../support/cli';
import { expectError, uniqueId } from '../e2e/helpers';
import { httpClient, runsOf, start, waitTerminal, type Api } from '../e2e/engine-helpers';
import { expectHealthy, probeWhile, timedGet } from './hostile-helpers';

/** A bomb must end its execution within this (server timestamps). */
const BOMB_BUDGET_MS = 5000;
/** A regex run must end within this (server timestamps). */
const REGEX_BUDGET_MS = 1000;
const PROBE_BUDGET_MS = 100;

let proc: ServeProcess;
let api: Api;
let target: { url: string };

beforeAll(async () => {
  // a bomb the budget misses aborts this child at 1 GiB instead of swapping the machine
  const served = await spawnTestServe({ NODE_OPTIONS: '--max-old-space-size=1024' }, 'autokestra-hostile-expr-');
  proc = served;
  api = httpClient(proc.url, served.key);
  target = { url: proc.url };
});

afterAll(() => stopProcess(proc?.child));

/** 1,000 ints: the largest list literal allowed, so every bomb below starts from it. */
const LIST = `[${Array.from({ length: 1000 }, (_, i) => i).join(',')}]`;

function put(id: string, yaml: string) {
  return api.request('PUT', `/api/v1/workflows/${id}`, { raw: yaml, contentType: 'application/yaml' });
}

async function applyOk(id: string, yaml: string): Promise<void> {
  const res = await put(id, yaml);
  expect([200, 201], `apply ${id}: ${res.status} ${res.text}`).toContain(res.status);
}

function runMs(execution: any): number {
  return Date.parse(execution.endedAt) - Date.parse(execution.createdAt);
}

describe('constructs refused at apply answer 400 INVALID_WORKFLOW', () => {
  it.each([
    ['comprehensions nested three deep', 'vars.l.map(a, vars.l.map(b, vars.l.map(c, c)))'],
    ['cel.bind nested three deep', 'cel.bind(a, 1, cel.bind(b, 2, cel.bind(c, 3, a + b + c)))'],
    ['a comprehension inside two binds', 'cel.bind(a, vars.l, cel.bind(b, a, b.map(x, x)))'],
    ['an expression longer than 64 KiB', Array.from({ length: 14_000 }, () => '1').join(' + ')],
    ['more than 5,000 AST nodes', `size([${Array.from({ length: 3000 }, () => '[1]').join(',')}])`],
    ['more than 64 levels of nesting', `${'['.repeat(70)}1${']'.repeat(70)}`],
    ['a list literal of 1,001 elements', `size([${Array.from({ length: 1001 }, (_, i) => i).join(',')}])`],
    ['a map literal of 1,001 entries', `size({${Array.from({ length: 1001 }, (_, i) => `'k${i}': ${i}`).join(',')}})`],
    ['a matches() pattern that is not a literal', "'aaa'.matches(string(vars.l[0]))"],
  ])('refuses %s', async (_what, expr) => {
    const id = uniqueId('expr-refused');
    const res = await put(id, `id: ${id}\nvariables: {l: "{{ [1, 2, 3] }}"}\ntasks:\n  - {id: t, type: output, values: {v: "{{ ${expr} }}"}}\n`);
    expectError(res, 400, 'INVALID_WORKFLOW');
  });
});

/** [what, pattern, subject] — patterns that backtrack exponentially or polynomially in JS. */
const REGEXES: Array<[string, string, string]> = [
  ['(a+)+$ on 5,000 a and a bang', '(a+)+$', `${'a'.repeat(5000)}!`],
  ['(a|a)*b on 5,000 a', '(a|a)*b', 'a'.repeat(5000)],
  ['(x+x+)+y on 5,000 x', '(x+x+)+y', 'x'.repeat(5000)],
  ['(a|aa)+$ on 5,000 a and a bang', '(a|aa)+$', `${'a'.repeat(5000)}!`],
  ['^(a+)+$ on 5,000 a and a bang', '^(a+)+$', `${'a'.repeat(5000)}!`],
  ['(a*)*b on 5,000 a', '(a*)*b', 'a'.repeat(5000)],
  ['^(\\w+\\s?)+$ on 1,000 words and a bang', '^(\\w+\\s?)+$', `${'word '.repeat(1000)}!`],
  ['([a-zA-Z]+)*$ on 5,000 letters and a digit', '([a-zA-Z]+)*$', `${'aB'.repeat(2500)}1`],
  ['(a|b|ab)*c on 5,000 ab', '(a|b|ab)*c', 'ab'.repeat(2500)],
  ['(\\d+|\\w+)*! on 5,000 characters', '(\\d+|\\w+)*!', '1a'.repeat(2500)],
  ['(.*a){20} on 5,000 b', '(.*a){20}', 'b'.repeat(5000)],
  ['^(a?){30}a{30}$ on 30 a', '^(a?){30}a{30}$', 'a'.repeat(30)],
  ['a*a*a*a*a*a*b on 45 a (polynomial)', 'a*a*a*a*a*a*b', 'a'.repeat(45)],
  ['.*.*.*.*=.*; on 80 = (polynomial)', '.*.*.*.*=.*;', '='.repeat(80)],
  ['[a-z]*[a-z]*[a-z]*[a-z]*[a-z]*0 on 80 a (polynomial)', '[a-z]*[a-z]*[a-z]*[a-z]*[a-z]*0', 'a'.repeat(80)],
  ['\\d*\\d*\\d*\\d*\\d*x on 80 digits (polynomial)', '\\d*\\d*\\d*\\d*\\d*x', '1'.repeat(80)],
  ['(?:a+)(?:a+)(?:a+)(?:a+)b on 120 a (polynomial)', '(?:a+)(?:a+)(?:a+)(?:a+)b', 'a'.repeat(120)],
  ['a backreference', '(a+)\\1b', 'a'.repeat(5000)],
  ['a lookahead', '(?=(a+))+b', 'a'.repeat(5000)],
  ['a lookbehind', '(?<=a+)+b', 'a'.repeat(5000)],
];

describe('backtracking patterns in matches() are refused at apply or run in linear time', () => {
  it.each(REGEXES)('%s', async (_what, pattern, subject) => {
    const id = uniqueId('regex');
    const yaml = `id: ${id}\ninputs: [{id: s, type: string}]\ntasks:\n  - {id: m, type: output, values: {m: '{{ inputs.s.matches(r"${pattern}") }}'}}\n`;
    const applied = await put(id, yaml);
    if (applied.status === 400) {
      expectError(applied, 400, 'INVALID_WORKFLOW');
      return;
    }
    expect([200, 201], applied.text).toContain(applied.status);
    const { value: done, maxProbeMs, failed } = await probeWhile(target, async () => {
      const execId = await start(api, id, { inputs: { s: subject } });
      return waitTerminal(api, execId, 60_000);
    }, 20);
    expect(['SUCCESS', 'FAILED'], JSON.stringify(done.error)).toContain(done.state);
    if (done.state === 'FAILED') expect(done.error.kind).toBe('EXPRESSION_ERROR');
    expect(runMs(done), 'the run ended fast').toBeLessThan(REGEX_BUDGET_MS);
    expect(failed, 'every probe answered 200').toBe(0);
    expect(maxProbeMs, 'slowest /health/live while the pattern ran').toBeLessThan(PROBE_BUDGET_MS);
  });
});

/** Expressions whose intermediate values or work explode; each must fail with EXPRESSION_ERROR. */
const BOMBS: Array<[string, string]> = [
  ['nested map building a billion elements inside size()', 'size(vars.l.map(a, vars.l.map(b, vars.l + [b])))'],
  ['nested map building a million 3.9 KB strings', 'size(vars.l.map(a, vars.l.map(b, vars.l.join(","))))'],
  ['join of joins into a 3.9 GB string', 'size(vars.l.map(a, vars.l.map(b, vars.l.join(",")).join(",")).join(","))'],
  ['chained map receivers (a billion elements)', 'size(vars.l.map(a, vars.l).map(r, r.map(x, vars.l + [x])))'],
  ['nested maps of maps', 'size(vars.l.map(a, vars.l.map(b, {"k": vars.l + [b]})))'],
  ['l + l chains inside a map (10 million elements)', `size(vars.l.map(a, ${Array.from({ length: 10 }, () => 'vars.l').join(' + ')}))`],
  ['cel.bind doubling lists (32 million elements)', 'cel.bind(x, vars.l.map(a, vars.l + vars.l + vars.l + vars.l), size(x.map(r, r + r + r + r + r + r + r + r)))'],
  ['cel.bind doubling strings', 'cel.bind(s, vars.l.map(a, vars.l.join(",")).join(","), size(vars.l.map(i, s + s + s + s).join("")))'],
  ['long string concatenation (78 MB)', `size(vars.l.map(a, ${Array.from({ length: 20 }, () => 'vars.l.join(",")').join(' + ')}).join(""))`],
  ['join of a million-element list', 'size(vars.l.map(a, vars.l.map(b, string(b))).map(r, r.join(",")).join(","))'],
  ['a million-value result', 'vars.l.map(a, vars.l.map(b, b))'],
  ['comprehension iteration bomb (20 million all() steps)', Array.from({ length: 20 }, () => 'vars.l.all(a, vars.l.all(b, a + b >= 0))').join(' && ')],
  ['comprehension iteration bomb (20 million exists() steps)', Array.from({ length: 20 }, () => 'vars.l.exists(a, vars.l.exists(b, a + b < 0))').join(' || ')],
  ['filter over a quadratic product', 'size(vars.l.map(a, vars.l.filter(b, b >= 0).map(c, vars.l + [c])))'],
];

const withList = (id: string, rest: string) => `id: ${id}\nvariables: {l: "{{ ${LIST} }}"}\n${rest}`;

async function expectBombFails(id: string, yaml: string, taskId: string | null): Promise<any> {
  await applyOk(id, yaml);
  const execId = await start(api, id, {});
  const done = await waitTerminal(api, execId, 30_000);
  expect(done.state, JSON.stringify(done.error)).toBe('FAILED');
  expect(done.error.kind, JSON.stringify(done.error)).toBe('EXPRESSION_ERROR');
  expect(done.error.message.length).toBeGreaterThan(0);
  if (taskId) {
    expect(done.error.taskId).toBe(taskId);
    expect(runsOf(done, taskId).at(-1)).toMatchObject({ state: 'FAILED', error: { kind: 'EXPRESSION_ERROR' } });
  }
  expect(runMs(done), 'the bomb was stopped within the budget').toBeLessThan(BOMB_BUDGET_MS);
  expect((await timedGet(`${proc.url}/health/live`)).status).toBe(200);
  return done;
}

describe('intermediate-value and work bombs fail the task with EXPRESSION_ERROR', () => {
  it.each(BOMBS)('%s', async (_what, expr) => {
    const id = uniqueId('bomb');
    await expectBombFails(id, withList(id, `tasks:\n  - {id: bomb, type: output, values: {v: '{{ ${expr} }}'}}\n`), 'bomb');
  });
});

const BOMB = 'size(vars.l.map(a, vars.l.map(b, vars.l + [b])))';

describe('a bomb fails wherever it is evaluated', () => {
  it.each([
    ['a log message', `tasks:\n  - {id: bomb, type: log, message: "n={{ ${BOMB} }}"}\n`, 'bomb'],
    ['a fail message', `tasks:\n  - {id: bomb, type: fail, message: "{{ ${BOMB} }}"}\n`, 'bomb'],
    ['an if condition', `tasks:\n  - {id: bomb, type: if, condition: "{{ ${BOMB} > 0 }}", then: [{id: y, type: log, message: y}]}\n`, 'bomb'],
    ['foreach items', `tasks:\n  - {id: bomb, type: foreach, items: "{{ vars.l.map(a, vars.l.map(b, vars.l + [b])) }}", tasks: [{id: one, type: log, message: x}]}\n`, 'bomb'],
    ['an http url', `tasks:\n  - {id: bomb, type: http, url: "https://example.invalid/{{ ${BOMB} }}", timeout: 5s}\n`, 'bomb'],
    ['a parallel branch', `tasks:\n  - id: par\n    type: parallel\n    tasks:\n      - {id: bomb, type: output, values: {v: "{{ ${BOMB} }}"}}\n      - {id: calm, type: log, message: calm}\n`, null],
  ])('in %s', async (_what, tasks, taskId) => {
    const id = uniqueId('bomb-at');
    await expectBombFails(id, withList(id, tasks), taskId);
  });

  it('in variables: the execution fails with EXPRESSION_ERROR before any task', async () => {
    const id = uniqueId('bomb-vars');
    const yaml = `id: ${id}\nvariables:\n  l: "{{ ${LIST} }}"\n  big: "{{ [${Array.from({ length: 1000 }, (_, i) => i).join(',')}].map(a, [${Array.from({ length: 1000 }, (_, i) => i).join(',')}].map(b, b)).map(r, r + r) }}"\ntasks:\n  - {id: t, type: log, message: never}\n`;
    const res = await put(id, yaml);
    if (res.status === 400) {
      expectError(res, 400, 'INVALID_WORKFLOW'); // the literal lists exceed the AST budget: refused at apply instead
      return;
    }
    const done = await expectBombFails(id, yaml, null);
    expect(runsOf(done, 't')).toHaveLength(0);
  });

  it('in an errors handler: the execution ends FAILED and the handler run fails with EXPRESSION_ERROR', async () => {
    const id = uniqueId('bomb-handler');
    await applyOk(id, withList(id, `tasks:\n  - {id: boom, type: fail, message: planned}\nerrors:\n  - {id: handler, type: log, message: "{{ ${BOMB} }}"}\n`));
    const done = await waitTerminal(api, await start(api, id, {}), 30_000);
    expect(done.state).toBe('FAILED');
    expect(runsOf(done, 'handler').at(-1)).toMatchObject({ state: 'FAILED', error: { kind: 'EXPRESSION_ERROR' } });
    expect(runMs(done)).toBeLessThan(BOMB_BUDGET_MS);
  });
});

describe('a task timeout bounds expression evaluation', () => {
  it.each([
    ['an iteration bomb', Array.from({ length: 20 }, () => 'vars.l.all(a, vars.l.all(b, a + b >= 0))').join(' && ')],
    ['an allocation bomb', BOMB],
  ])('a 300 ms timeout stops %s: FAILED within 2 s with TIMEOUT or EXPRESSION_ERROR', async (_what, expr) => {
    const id = uniqueId('bomb-timeout');
    await applyOk(id, withList(id, `tasks:\n  - {id: slow, type: output, timeout: 300ms, values: {v: "{{ ${expr} }}"}}\n`));
    const done = await waitTerminal(api, await start(api, id, {}), 30_000);
    expect(done.state).toBe('FAILED');
    expect(['TIMEOUT', 'EXPRESSION_ERROR']).toContain(done.error.kind);
    expect(runMs(done)).toBeLessThan(2000);
  });
});

describe('after the hostile expressions', () => {
  it('the same process still runs an ordinary workflow and answers /health/live and /health/ready', async () => {
    expect(proc.child.exitCode, proc.output().slice(-2000)).toBeNull();
    const id = uniqueId('calm');
    await applyOk(id, withList(id, 'tasks:\n  - {id: sum, type: output, values: {n: "{{ size(vars.l.map(a, a * 2)) }}"}}\n'));
    const done = await waitTerminal(api, await start(api, id, {}));
    expect(done.state).toBe('SUCCESS');
    expect(done.outputs.sum.n).toBe(1000);
    await expectHealthy(target);
  });
});

/**
 * Task types as plugins (issue 10 §2): a TaskType registered next to the built-in ones is
 * validated by the DSL from its property schema, with the same line-numbered diagnostics.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseWorkflow, type Diagnostic, type ParseResult } from '../../src/engine/dsl';
import { WorkflowParser } from '../../src/engine/dsl/workflow-parser';
import { TaskTypeRegistry } from '../../src/engine/tasks/registry';
import type { TaskRuntimeConfig, TaskType } from '../../src/engine/tasks/task-type';

const CONFIG: TaskRuntimeConfig = { http: { maxResponseBytes: 1024, allowCidrs: [], denyCidrs: [] }, shell: { enabled: false, maxOutputBytes: 1024 } };

const greet: TaskType = {
  name: 'acme.greet',
  properties: {
    name: { type: 'template', required: true },
    times: { type: 'integer', min: 1, max: 5, default: 1 },
    loud: { type: 'boolean', default: false },
    pause: { type: 'duration', as: 'pauseMs', default: 0 },
    style: { type: 'enum', values: ['plain', 'fancy'], default: 'plain' },
    tags: { type: 'array' },
    extra: { type: 'object' },
  },
  async run(task, ctx) {
    return { greeting: `hello ${String(ctx.render(task.name))}` };
  },
};

function schemas(extra: TaskType[] = [greet]) {
  return TaskTypeRegistry.withBuiltIns(extra).schemas(CONFIG);
}

function parse(source: string, extra: TaskType[] = [greet]): ParseResult {
  return parseWorkflow(source, { shellEnabled: false, taskTypes: schemas(extra) });
}

function diagnostics(result: ParseResult): string[] {
  expect(result.ok).toBe(false);
  return result.ok ? [] : result.diagnostics.map((d: Diagnostic) => `${d.path}@${d.line}: ${d.message}`);
}

const workflow = (task: string) => `id: hello\ntasks:\n  - id: first\n    type: log\n    message: hi\n${task}`;

describe('a task type registered next to the built-in ones', () => {
  it('validates and normalizes a task of the new type (defaults, renamed keys)', () => {
    const result = parse(workflow('  - id: greet\n    type: acme.greet\n    name: "{{ execution.id }}"\n    times: 3\n    pause: 2s\n'));
    expect(result.ok, JSON.stringify(result)).toBe(true);
    if (!result.ok) return;
    expect(result.definition.tasks[1]).toEqual({
      id: 'greet',
      type: 'acme.greet',
      description: null,
      timeoutMs: null,
      retry: null,
      name: '{{ execution.id }}',
      times: 3,
      loud: false,
      pauseMs: 2000,
      style: 'plain',
    });
  });

  it('reports an unknown property with its line and a suggestion, like a built-in type', () => {
    expect(diagnostics(parse(workflow('  - id: greet\n    type: acme.greet\n    name: x\n    tmes: 2\n')))).toEqual([
      "tasks[1].tmes@9: unknown property 'tmes'; did you mean 'times'?",
    ]);
    expect(diagnostics(parse(workflow('  - id: greet\n    type: acme.greet\n    name: x\n    colour: red\n')))).toEqual([
      "tasks[1].colour@9: unknown property 'colour'; allowed: id, type, description, timeout, retry, name, times, loud, pause, style, tags, extra",
    ]);
  });

  it('reports a missing required property at the task', () => {
    expect(diagnostics(parse(workflow('  - id: greet\n    type: acme.greet\n')))).toEqual([
      "tasks[1].name@6: missing required property 'name'",
    ]);
  });

  it('reports values of the wrong type with their lines', () => {
    const source = workflow(
      '  - id: greet\n    type: acme.greet\n    name: [not, text]\n    times: 9\n    loud: yes please\n    pause: 5\n    style: fancyy\n    tags: a\n    extra: b\n',
    );
    expect(diagnostics(parse(source))).toEqual([
      'tasks[1].name@8: must be a string',
      'tasks[1].times@9: must be an integer between 1 and 5',
      'tasks[1].loud@10: must be a boolean (true or false)',
      "tasks[1].pause@11: must be a duration string with a unit (e.g. '500ms', '5s', '2m', '1h', '1d' or ISO-8601 'PT5S', 'PT1H30M', 'P1D'); a bare number is ambiguous",
      "tasks[1].style@12: 'fancyy' is not allowed; did you mean 'fancy'? (one of plain, fancy)",
      'tasks[1].tags@13: must be a list',
      'tasks[1].extra@14: must be a mapping',
    ]);
  });

  it('checks the expressions in its properties like any other', () => {
    expect(diagnostics(parse(workflow('  - id: greet\n    type: acme.greet\n    name: "{{ outputs.later.x }}"\n')))).toEqual([
      "tasks[1].name@8: expression references outputs of unknown task 'later'",
    ]);
  });

  it('is unknown (with the list of types) where the server does not register it', () => {
    const result = diagnostics(parseWorkflow(workflow('  - id: greet\n    type: acme.greet\n    name: x\n'), { shellEnabled: false }));
    expect(result).toEqual([
      "tasks[1].type@7: unknown task type 'acme.greet' (one of log, sleep, http, output, fail, parallel, if, foreach, subflow, shell)",
      // without a known type, any property of any type is accepted; 'name' belongs to none
      "tasks[1].name@8: unknown property 'name'; allowed: id, type, description, timeout, retry, message, level, duration, url, method, headers, body, values, concurrency, tasks, condition, then, else, items, workflowId, inputs, commands, env",
    ]);
    expect(diagnostics(parse(workflow('  - id: greet\n    type: acme.gret\n    name: x\n')))).toEqual([
      "tasks[1].type@7: unknown task type 'acme.gret'; did you mean 'acme.greet'?",
    ]);
  });

  it('is validated the same way on the parser thread (its schema travels with the source)', async () => {
    const workerFile = join(__dirname, '..', '..', 'dist', 'engine', 'dsl', 'parse-worker.js');
    expect(existsSync(workerFile), 'run `npm run build` first: this test uses the compiled parser thread').toBe(true);
    const parser = new WorkflowParser({ workerFile, inlineBelowChars: 0 });
    try {
      const bad = await parser.parse(workflow('  - id: greet\n    type: acme.greet\n    name: x\n    tmes: 2\n'), { taskTypes: schemas() });
      expect(diagnostics(bad)).toEqual(["tasks[1].tmes@9: unknown property 'tmes'; did you mean 'times'?"]);
      const good = await parser.parse(workflow('  - id: greet\n    type: acme.greet\n    name: x\n'), { taskTypes: schemas() });
      expect(good.ok).toBe(true);
      expect(good.ok && good.definition.tasks[1]).toMatchObject({ type: 'acme.greet', name: 'x', times: 1 });
    } finally {
      await parser.close();
    }
  });
});

describe('TaskTypeRegistry', () => {
  it('lists the built-in types in their documented order, extra types after them', () => {
    expect(TaskTypeRegistry.withBuiltIns([greet]).names).toEqual(['log', 'sleep', 'http', 'output', 'fail', 'parallel', 'if', 'foreach', 'subflow', 'shell', 'acme.greet']);
  });

  it('refuses a duplicate name at registration, naming both registrations', () => {
    expect(() => TaskTypeRegistry.withBuiltIns([{ ...greet, name: 'http' }])).toThrow(
      "duplicate task type 'http': registered by built-in and again by engine options taskTypes[0]; task type names must be unique",
    );
    expect(() => TaskTypeRegistry.withBuiltIns([greet, { ...greet }])).toThrow(
      "duplicate task type 'acme.greet': registered by engine options taskTypes[0] and again by engine options taskTypes[1]; task type names must be unique",
    );
    // containers are registered too: their names are taken
    expect(() => TaskTypeRegistry.withBuiltIns([{ ...greet, name: 'foreach' }])).toThrow(/duplicate task type 'foreach'/);
  });

  it('refuses an invalid type at registration with what to fix', () => {
    expect(() => TaskTypeRegistry.withBuiltIns([{ ...greet, name: 'no spaces' }])).toThrow(/invalid task type name "no spaces"/);
    expect(() => TaskTypeRegistry.withBuiltIns([{ ...greet, properties: { id: { type: 'string' } } }])).toThrow(
      "invalid task type 'acme.greet' (engine options taskTypes[0]): property 'id' is common to every task and cannot be redeclared",
    );
    expect(() => TaskTypeRegistry.withBuiltIns([{ ...greet, properties: { n: { type: 'strng' } } } as unknown as TaskType])).toThrow(/property 'n' has unknown type 'strng'/);
    expect(() => TaskTypeRegistry.withBuiltIns([{ ...greet, properties: { body: { type: 'tasks', mode: 'sequential' } } }])).toThrow(/nested task lists belong to the built-in containers/);
    expect(() => TaskTypeRegistry.withBuiltIns([{ name: 'acme.norun', properties: {} } as unknown as TaskType])).toThrow(/run must be a function/);
    expect(() => TaskTypeRegistry.withBuiltIns([{ ...greet, properties: { n: { type: 'any', default: () => 1 } } }])).toThrow(/property 'n' holds something that is not plain data/);
  });

  it('gives a type switched off by configuration the diagnostic of a disabled type', () => {
    const result = parseWorkflow('id: s\ntasks:\n  - id: sh\n    type: shell\n    commands: [ls]\n', { shellEnabled: false, taskTypes: schemas() });
    expect(diagnostics(result)).toEqual(["tasks[0].type@4: task type 'shell' is disabled on this server (engine.tasks.shell.enabled)"]);
  });
});

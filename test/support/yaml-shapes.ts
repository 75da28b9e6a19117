/**
 * Workflow sources of about 1 MiB in every shape that once made parsing super-linear (or could):
 * each with what applying it must answer. Used by the unit timing test and the HTTP apply test.
 */
export interface YamlShape {
  name: string;
  source: string;
  /** null: the workflow is valid; otherwise a diagnostic that must be reported */
  expected: null | { path?: string; message: RegExp; line?: number };
}

/** Just under the default 1 MiB body limit. */
export const SHAPE_SIZE = 1_040_000;

function fill(head: string, line: (i: number) => string, tail = ''): string {
  const parts = [head];
  let length = head.length + tail.length;
  for (let i = 0; ; i++) {
    const next = line(i);
    if (length + next.length > SHAPE_SIZE) break;
    parts.push(next);
    length += next.length;
  }
  parts.push(tail);
  return parts.join('');
}

export function yamlShapes(id: string): YamlShape[] {
  const head = `id: ${id}\ntasks:\n  - {id: t0, type: log, message: hi}\n`;
  return [
    { name: '60k+ keys in one mapping', source: fill(`${head}variables:\n`, (i) => `  k${i}: ${i}\n`), expected: null },
    {
      name: 'every key of a large mapping duplicated',
      source: fill(`${head}variables:\n`, (i) => `  k${i >> 1}: ${i}\n`),
      expected: { path: 'variables.k0', message: /^duplicate key 'k0' \(first defined at line 5\)$/, line: 6 },
    },
    {
      name: '100k unknown top-level keys',
      source: fill(head, (i) => `x${i}: 1\n`),
      expected: { path: 'x0', message: /^unknown property 'x0'/, line: 4 },
    },
    { name: 'deep nesting within the limit, repeated', source: fill(`${head}variables:\n`, (i) => `  d${i}: ${'{a: '.repeat(60)}1${'}'.repeat(60)}\n`), expected: null },
    { name: 'one long flow sequence', source: fill(`${head}variables:\n  list: [`, (i) => `${i % 10}, `, '0]\n'), expected: null },
    { name: 'many anchors', source: fill(`${head}variables:\n`, (i) => `  a${i}: &a${i} v\n`), expected: null },
    {
      name: 'many anchors and aliases',
      source: fill(`${head}variables:\n`, (i) => `  a${i}: &a${i} v\n  b${i}: *a${i}\n`),
      expected: { message: /too many alias expansions/ },
    },
    { name: 'one huge double-quoted scalar', source: `${head}variables:\n  s: "${'x'.repeat(SHAPE_SIZE - 100)}"\n`, expected: null },
    { name: 'one huge block scalar', source: `${head}variables:\n  s: |\n${fill('', (i) => `    line ${i} of text\n`).slice(0, SHAPE_SIZE - 100)}`, expected: null },
    {
      name: 'one huge unknown key',
      source: `${head}${'k'.repeat(SHAPE_SIZE - 100)}: 1\n`,
      expected: { message: /^unknown property 'k+ \.\.\. k+'; allowed: /, line: 4 },
    },
    {
      name: 'many documents',
      source: fill(head, () => '---\na: 1\n'),
      expected: { path: '', message: /several YAML documents/, line: 4 },
    },
    {
      name: 'many small tasks referencing each other',
      source: fill(`id: ${id}\ntasks:\n`, (i) => `  - {id: t${i}, type: log, message: "{{ outputs.t${Math.max(0, i - 1)}.x }}"}\n`),
      expected: { path: 'tasks', message: /^too many tasks: \d+ \(at most 1000/, line: 2 },
    },
    {
      name: 'many container tasks',
      source: fill(`id: ${id}\ntasks:\n`, (i) => `  - {id: t${i}, type: if, condition: "true", then: [{id: c${i}, type: log, message: hi}]}\n`),
      expected: { path: 'tasks', message: /^too many tasks: \d+ \(at most 1000/, line: 2 },
    },
    {
      name: 'many invalid tasks',
      source: fill(`id: ${id}\ntasks:\n`, (i) => `  - {id: t${i}, type: lgo, mesage: hi}\n`),
      expected: { path: 'tasks[0].type', message: /^unknown task type 'lgo'; did you mean 'log'\?$/, line: 3 },
    },
    {
      name: 'many triggers',
      source: fill(`${head}triggers:\n`, (i) => `  - {id: tr${i}, type: schedule, cron: "0 2 * * *", timezone: Europe/Paris}\n`),
      expected: { path: 'triggers', message: /^too many triggers: \d+ \(at most 100 per workflow\)$/, line: 4 },
    },
    { name: 'long lines', source: fill(`${head}variables:\n`, (i) => `  l${i}: ${'y'.repeat(10_000)}\n`), expected: null },
    { name: 'many comments', source: fill(head, (i) => `# comment ${i} ${'c'.repeat(40)}\n`), expected: null },
    { name: 'many templates in one string', source: fill(`${head}variables:\n  t: "`, () => '{{ 1 }}', '"\n'), expected: null },
  ];
}

/**
 * Secrets belong to namespaces (issue 7, item 9): the SecretStore's allow-lists (secrets file
 * entries, secrets.namespaces, secrets.defaultNamespaces), the namespace-scoped resolver, the
 * config checks, and the apply-time check of literal secret() names in the DSL.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, ConfigError } from '../../src/common/config/load-config';
import { parseWorkflow, type Diagnostic } from '../../src/engine/dsl';
import { renderValue } from '../../src/engine/expressions';
import { namespaceGlobProblems, SecretsConfigError, SecretStore, type SecretStoreOptions } from '../../src/engine/runtime/secrets';
import { tempDir, TEST_CONFIG } from '../support/server';

function fileWith(yaml: string): string {
  const path = join(tempDir('autokestra-secrets-unit-'), 'secrets.yaml');
  writeFileSync(path, yaml);
  return path;
}

function storeFrom(yaml: string | null, env: Record<string, string> = {}, options: SecretStoreOptions = {}): SecretStore {
  return new SecretStore(env, yaml === null ? null : fileWith(yaml), options);
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof SecretsConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a SecretsConfigError');
}

describe('secrets file shapes', () => {
  it('reads NAME: value and NAME: {value, namespaces}; the plain form gets the default allow-list', () => {
    const store = storeFrom(`
PLAIN: plain-value
NUMBER: 3
TEAM: {value: "team-value", namespaces: ["team.a", "team.b.*"]}
SKIPPED: null
`);
    expect(store.names.sort()).toEqual(['NUMBER', 'PLAIN', 'TEAM']);
    expect(store.forNamespace('default').resolve('PLAIN')).toBe('plain-value');
    expect(store.forNamespace('default').resolve('NUMBER')).toBe('3');
    expect(store.forNamespace('team.a').resolve('PLAIN')).toBeUndefined();
    expect(store.forNamespace('team.a').resolve('TEAM')).toBe('team-value');
    expect(store.forNamespace('default').resolve('TEAM')).toBeUndefined();
  });

  it('reports every bad entry at once, one line each, naming the entry and never its value', () => {
    const problems = problemsOf(() =>
      storeFrom(`
LIST: [leaked-value-1, x]
NO_VALUE: {namespaces: [team.a]}
BAD_VALUE: {value: {nested: leaked-value-2}}
EXTRA: {value: leaked-value-3, namespace: [team.a]}
EMPTY: {value: leaked-value-4, namespaces: []}
GLOB: {value: leaked-value-5, namespaces: ["team a", "team.*.x", 7]}
NOT_LIST: {value: leaked-value-6, namespaces: team.a}
GOOD: fine
`),
    );
    expect(problems).toHaveLength(7);
    expect(problems[0]).toMatch(/: LIST: must be a value or a mapping \{value: "\.\.\.", namespaces: \[\.\.\.\]\}$/);
    expect(problems[1]).toMatch(/: NO_VALUE\.value: is required$/);
    expect(problems[2]).toMatch(/: BAD_VALUE\.value: must be a string, number or boolean$/);
    expect(problems[3]).toMatch(/: EXTRA: unknown property 'namespace'; allowed: value, namespaces$/);
    expect(problems[4]).toMatch(/: EMPTY\.namespaces: must be a non-empty list of namespace globs/);
    expect(problems[5]).toMatch(/: GLOB\.namespaces: invalid namespace glob\(s\) 'team a', 'team\.\*\.x', 7; use names like/);
    expect(problems[6]).toMatch(/: NOT_LIST\.namespaces: must be a list of namespace globs/);
    expect(problems.join('\n')).not.toMatch(/leaked-value/);
  });

  it('a file that is not a mapping, or not YAML, stops the start without quoting its text', () => {
    expect(problemsOf(() => storeFrom('- a\n- b\n'))[0]).toMatch(/must be a YAML mapping of NAME: value or NAME: \{value/);
    const broken = problemsOf(() => storeFrom('TOKEN: "unterminated leaked-value\n'));
    expect(broken).toHaveLength(1);
    expect(broken[0]).toMatch(/is not valid YAML \(\w+( at line \d+)?\)$/);
    expect(broken[0]).not.toContain('leaked-value');
    expect(problemsOf(() => new SecretStore({}, '/nonexistent/secrets.yaml'))[0]).toMatch(/^cannot read secrets file \/nonexistent\/secrets\.yaml: ENOENT/);
  });

  it('an empty file defines no secret', () => {
    expect(storeFrom('').names).toEqual([]);
  });
});

describe('allow-list globs', () => {
  const store = storeFrom(`
EXACT: {value: v1, namespaces: [team.a]}
TREE: {value: v2, namespaces: ["team.b.*"]}
ALL: {value: v3, namespaces: ["*"]}
`);

  it.each([
    ['EXACT', 'team.a', true],
    ['EXACT', 'team.a.sub', false],
    ['EXACT', 'team', false],
    ['EXACT', 'Team.A', false],
    ['TREE', 'team.b', true],
    ['TREE', 'team.b.x', true],
    ['TREE', 'team.b.x.y', true],
    ['TREE', 'team.bb', false],
    ['TREE', 'team', false],
    ['ALL', 'anything.at.all', true],
    ['ALL', 'default', true],
    ['MISSING', 'team.a', false],
  ])('%s read from %s: %s', (name, namespace, readable) => {
    expect(store.isReadableFrom(name, namespace)).toBe(readable);
    expect(store.forNamespace(namespace).resolve(name)).toBe(readable ? { EXACT: 'v1', TREE: 'v2', ALL: 'v3' }[name] : undefined);
  });

  it('a resolver answers a secret outside its namespace exactly as a missing one (undefined)', () => {
    const foreign = store.forNamespace('team.z');
    expect(foreign.resolve('EXACT')).toBe(foreign.resolve('NO_SUCH_SECRET'));
  });

  it('an expression reading a foreign secret fails with the same message as a missing one', () => {
    const errorOf = (name: string) => {
      try {
        renderValue(`{{ secret('${name}') }}`, {}, { secrets: store.forNamespace('team.z') });
      } catch (error) {
        return (error as Error).message.replaceAll(name, 'X');
      }
      throw new Error('expected the render to fail');
    };
    expect(errorOf('EXACT')).toBe(errorOf('NOPE1'));
    expect(renderValue("{{ secret('EXACT') }}", {}, { secrets: store.forNamespace('team.a') })).toBe('v1');
  });
});

describe('environment secrets and secrets.namespaces', () => {
  it('environment secrets get their allow-list from secrets.namespaces, else the default', () => {
    const store = storeFrom(null, { AUTOKESTRA_SECRET_GRANTED: 'g', AUTOKESTRA_SECRET_PLAIN: 'p', OTHER: 'x' }, { namespaces: { GRANTED: ['ops.*'] } });
    expect(store.names.sort()).toEqual(['GRANTED', 'PLAIN']);
    expect(store.isReadableFrom('GRANTED', 'ops.deploy')).toBe(true);
    expect(store.isReadableFrom('GRANTED', 'default')).toBe(false);
    expect(store.isReadableFrom('PLAIN', 'default')).toBe(true);
    expect(store.isReadableFrom('PLAIN', 'ops.deploy')).toBe(false);
  });

  it('secrets.namespaces also grants a plain file secret', () => {
    const store = storeFrom('FILE_PLAIN: v\n', {}, { namespaces: { FILE_PLAIN: ['team.a'] } });
    expect(store.isReadableFrom('FILE_PLAIN', 'team.a')).toBe(true);
    expect(store.isReadableFrom('FILE_PLAIN', 'default')).toBe(false);
  });

  it('a name with namespaces in both the file and secrets.namespaces is refused', () => {
    const problems = problemsOf(() => storeFrom('BOTH: {value: v, namespaces: [a]}\n', {}, { namespaces: { BOTH: ['b'] } }));
    expect(problems).toEqual(['secrets.namespaces.BOTH: BOTH already has namespaces in the secrets file; keep one of the two']);
  });

  it('the environment replaces a file entry whole: its namespaces do not follow the new value (and a warning says so)', () => {
    const warnings: string[] = [];
    const store = storeFrom('TOKEN: {value: file-value, namespaces: ["*"]}\n', { AUTOKESTRA_SECRET_TOKEN: 'env-value' }, { warn: (m) => warnings.push(m) });
    expect(store.forNamespace('team.a').resolve('TOKEN')).toBeUndefined();
    expect(store.forNamespace('default').resolve('TOKEN')).toBe('env-value');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^secret TOKEN is defined by AUTOKESTRA_SECRET_TOKEN and in the secrets file/);
    expect(warnings[0]).not.toMatch(/env-value|file-value/);
  });

  it('secrets.namespaces naming no secret is a warning, not a failure', () => {
    const warnings: string[] = [];
    const store = storeFrom(null, {}, { namespaces: { TYPO: ['team.a'] }, warn: (m) => warnings.push(m) });
    expect(store.names).toEqual([]);
    expect(warnings).toEqual(['secrets.namespaces.TYPO: no secret TYPO is defined (AUTOKESTRA_SECRET_TYPO or the secrets file); the setting has no effect']);
  });

  it('defaultNamespaces decides for secrets without an allow-list: [] = nowhere, ["*"] = everywhere', () => {
    const env = { AUTOKESTRA_SECRET_T: 'v' };
    expect(storeFrom(null, env).isReadableFrom('T', 'default')).toBe(true);
    expect(storeFrom(null, env).isReadableFrom('T', 'team.a')).toBe(false);
    expect(storeFrom(null, env, { defaultNamespaces: [] }).isReadableFrom('T', 'default')).toBe(false);
    expect(storeFrom(null, env, { defaultNamespaces: ['*'] }).isReadableFrom('T', 'team.a')).toBe(true);
    expect(storeFrom(null, env, { defaultNamespaces: ['team.*'] }).isReadableFrom('T', 'team.a')).toBe(true);
  });

  it('every value is masked whatever its namespaces', () => {
    const store = storeFrom('A: {value: value-of-a, namespaces: [team.a]}\n', { AUTOKESTRA_SECRET_B: 'value-of-b' }, { defaultNamespaces: [] });
    expect(store.masker.mask('x value-of-a y value-of-b')).toBe('x *** y ***');
  });
});

describe('secrets settings in the configuration', () => {
  function configProblems(yaml: string): string[] {
    const file = fileWith(yaml);
    try {
      loadConfig({ file, env: { AUTOKESTRA_CONFIG: TEST_CONFIG } });
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    return [];
  }

  it('defaults to defaultNamespaces [default] and no namespaces', () => {
    const config = loadConfig({ file: TEST_CONFIG, env: {} });
    expect(config.secrets.defaultNamespaces).toEqual(['default']);
    expect(config.secrets.namespaces).toEqual({});
  });

  it('accepts allow-lists of names and globs', () => {
    expect(configProblems('secrets:\n  namespaces: {API_TOKEN: [team.data, "ops.*"]}\n  defaultNamespaces: []\n')).toEqual([]);
  });

  it('refuses bad shapes with one line per problem', () => {
    expect(configProblems('secrets:\n  namespaces: {A: [], B: "team.a", C: ["bad glob"]}\n  defaultNamespaces: ["*.x"]\n')).toEqual([
      "secrets.defaultNamespaces: invalid namespace glob(s) '*.x'; use names like 'team-a' or globs like 'ops.*' or '*'",
      'secrets.namespaces.A: must be a non-empty list of namespace globs (omit it to use secrets.defaultNamespaces)',
      "secrets.namespaces.B: must be a list of namespace globs such as ['team-a', 'ops.*']",
      "secrets.namespaces.C: invalid namespace glob(s) 'bad glob'; use names like 'team-a' or globs like 'ops.*' or '*'",
    ]);
    expect(configProblems('secrets:\n  namespaces: [a]\n')).toEqual(['secrets.namespaces: must be a mapping of secret NAME to a list of namespace globs']);
    expect(configProblems('secrets:\n  defaultNamespaces: default\n')[0]).toMatch(/^secrets\.defaultNamespaces: /);
  });

  it('uses the API-key glob syntax', () => {
    expect(namespaceGlobProblems(['a', 'a.b', 'a.*', '*', 'a-b_c.d'], 'x')).toEqual([]);
    expect(namespaceGlobProblems(['.a', 'a.', 'a*', 'a.*.b', ''], 'x')).toHaveLength(1);
  });
});

describe('apply-time check of literal secret names', () => {
  const store = storeFrom(`
TEAM_A: {value: a, namespaces: ["team.a"]}
SHARED: plain
`);
  const parse = (yaml: string) => parseWorkflow(yaml, { shellEnabled: false, secretAccess: { grants: store.grants() } });
  const diagnostics = (yaml: string): Diagnostic[] => {
    const result = parse(yaml);
    return result.ok ? [] : result.diagnostics;
  };

  it('accepts secrets granted to the workflow namespace, the default namespace included', () => {
    expect(parse(`id: w\nnamespace: team.a\ntasks:\n  - {id: t, type: log, message: "{{ secret('TEAM_A') }}"}\n`).ok).toBe(true);
    expect(parse(`id: w\ntasks:\n  - {id: t, type: log, message: "{{ secret('SHARED') }}"}\n`).ok).toBe(true);
  });

  it('a foreign secret and a missing one get the same diagnostic, with path and line', () => {
    const foreign = diagnostics(`id: w\nnamespace: team.b\ntasks:\n  - {id: t, type: log, message: "{{ secret('TEAM_A') }}"}\n`);
    const missing = diagnostics(`id: w\nnamespace: team.b\ntasks:\n  - {id: t, type: log, message: "{{ secret('NOPE_AB') }}"}\n`);
    expect(foreign).toEqual([
      {
        path: 'tasks[0].message',
        line: 4,
        message: "secret 'TEAM_A' is not available in namespace 'team.b': no secret of that name is granted to this namespace (define it, or add 'team.b' to its namespaces)",
      },
    ]);
    expect(missing.map((d) => ({ ...d, message: d.message.replace('NOPE_AB', 'TEAM_A') }))).toEqual(foreign);
  });

  it('checks every place expressions live: variables, nested tasks, bare conditions, errors handlers', () => {
    const result = diagnostics(`id: w
namespace: team.b
variables: {v: "{{ secret('V1') }}"}
tasks:
  - id: c
    type: if
    condition: "secret('V2') == 'x'"
    then:
      - {id: h, type: http, url: "https://example.org", headers: {A: "{{ secret('V3') }}"}}
errors:
  - {id: e, type: log, message: "{{ secret('V4') + secret('V5') }}"}
`);
    expect(result.map((d) => `${d.path} @${d.line}: ${d.message.split(':')[0]}`)).toEqual([
      "variables.v @3: secret 'V1' is not available in namespace 'team.b'",
      "tasks[0].condition @7: secret 'V2' is not available in namespace 'team.b'",
      "tasks[0].then[0].headers.A @9: secret 'V3' is not available in namespace 'team.b'",
      "errors[0].message @11: secret 'V4' is not available in namespace 'team.b'",
      "errors[0].message @11: secret 'V5' is not available in namespace 'team.b'",
    ]);
  });

  it('leaves names computed at run time to the run-time check', () => {
    expect(parse(`id: w\nnamespace: team.b\ninputs: [{id: n, type: string}]\ntasks:\n  - {id: t, type: log, message: "{{ secret(inputs.n) }}"}\n`).ok).toBe(true);
  });

  it('reports the secret problems together with the other problems', () => {
    const result = diagnostics(`id: w\nnamespace: team.b\ntasks:\n  - {id: t, type: log, message: "{{ secret('TEAM_A') }}", bogus: 1}\n`);
    expect(result.map((d) => d.path)).toEqual(['tasks[0].bogus', 'tasks[0].message']);
  });

  it('does not check against an invalid namespace (that problem is reported instead)', () => {
    const result = diagnostics(`id: w\nnamespace: "bad ns"\ntasks:\n  - {id: t, type: log, message: "{{ secret('TEAM_A') }}"}\n`);
    expect(result.map((d) => d.path)).toEqual(['namespace']);
  });

  it('without the option (e.g. offline validation), secret names are not checked', () => {
    expect(parseWorkflow(`id: w\nnamespace: team.b\ntasks:\n  - {id: t, type: log, message: "{{ secret('NOPE') }}"}\n`, { shellEnabled: false }).ok).toBe(true);
  });
});

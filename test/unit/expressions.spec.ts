import { describe, it, expect } from 'vitest';
import {
  ExpressionError,
  SecretMasker,
  checkCondition,
  checkTemplates,
  collectReferences,
  evaluateCondition,
  renderString,
  renderValue,
  truthiness,
  type ExpressionContext,
  type SecretResolver,
} from '../../src/engine/expressions';
import { regexProblem } from '../../src/engine/expressions/cel';

const ctx: ExpressionContext = {
  inputs: { day: '2024-01-02', n: 2, f: 3.5, flag: true, days: ['mon', 'tue'], obj: { a: 1, b: [1, 2] }, nothing: null },
  vars: { greeting: 'Hello' },
  outputs: {
    fetch: { status: 200, body: { count: 3, items: [{ name: 'a', price: 1.5 }, { name: 'b', price: 2 }] } },
    'fetch-data': { body: { ok: true, count: 3.5 } },
    pick: { count: 3 },
  },
  execution: { id: 'exec-1', workflowId: 'wf' },
};

const secrets: SecretResolver = {
  resolve: (name) => ({ TOKEN: 's3cr3t-token', PASSWORD: 'hunter2', EMPTY: '' } as Record<string, string>)[name],
};

function errorOf(fn: () => unknown): ExpressionError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ExpressionError);
    return err as ExpressionError;
  }
  throw new Error('expected an ExpressionError');
}

describe('renderString: type preservation', () => {
  it('keeps the type of a single template', () => {
    expect(renderString('{{ inputs.n }}', ctx)).toBe(2);
    expect(renderString('{{ inputs.f }}', ctx)).toBe(3.5);
    expect(renderString('{{ inputs.flag }}', ctx)).toBe(true);
    expect(renderString('{{ inputs.nothing }}', ctx)).toBeNull();
    expect(renderString('{{ null }}', ctx)).toBeNull();
    expect(renderString('{{ inputs.obj }}', ctx)).toEqual({ a: 1, b: [1, 2] });
    expect(renderString('{{ inputs.days }}', ctx)).toEqual(['mon', 'tue']);
    expect(renderString('{{ [1, "a", true, null, 2.5] }}', ctx)).toEqual([1, 'a', true, null, 2.5]);
    expect(renderString('{{ {"k": 1, "l": [1]} }}', ctx)).toEqual({ k: 1, l: [1] });
  });

  it('allows whitespace around a single template and inside the braces', () => {
    expect(renderString('  {{inputs.n}}  ', ctx)).toBe(2);
    expect(renderString('\n{{\n  inputs.n + 1\n}}\n', ctx)).toBe(3);
  });

  it('returns plain JSON values: no BigInt, no Map, no class instances', () => {
    const v = renderString('{{ {"i": 1, "l": [size(inputs.days)], "m": {1: "x"}} }}', ctx) as any;
    expect(v).toEqual({ i: 1, l: [2], m: { '1': 'x' } });
    expect(typeof v.i).toBe('number');
    expect(typeof v.l[0]).toBe('number');
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(JSON.parse(JSON.stringify(v))).toEqual(v);
    expect(renderString('{{ timestamp("2024-01-01T00:00:00Z") }}', ctx)).toBe('2024-01-01T00:00:00.000Z');
    expect(renderString('{{ duration("90s") }}', ctx)).toBe('90s');
    expect(renderString('{{ b"hi" }}', ctx)).toBe('aGk=');
    expect(renderString('{{ type(1) }}', ctx)).toBe('int');
    expect(renderString('{{ 1u }}', ctx)).toBe(1);
  });

  it('does not hand out the caller\'s objects', () => {
    const v = renderString('{{ inputs.obj }}', ctx) as any;
    v.a = 99;
    expect((ctx.inputs!.obj as any).a).toBe(1);
  });

  it('returns strings without templates unchanged', () => {
    expect(renderString('plain } text { with braces }}', ctx)).toBe('plain } text { with braces }}');
  });
});

describe('renderString: interpolation', () => {
  it('replaces each template by its string form', () => {
    expect(renderString('{{ vars.greeting }} {{ inputs.day }}', ctx)).toBe('Hello 2024-01-02');
    expect(renderString('n={{ inputs.n }} f={{ inputs.f }} b={{ inputs.flag }}', ctx)).toBe('n=2 f=3.5 b=true');
    expect(renderString('[{{ inputs.nothing }}]', ctx)).toBe('[]');
    expect(renderString('obj={{ inputs.obj }}', ctx)).toBe('obj={"a":1,"b":[1,2]}');
    expect(renderString('list={{ inputs.days }}', ctx)).toBe('list=["mon","tue"]');
    expect(renderString('https://x.org/api?day={{ inputs.day }}&n={{ inputs.n + 1 }}', ctx)).toBe(
      'https://x.org/api?day=2024-01-02&n=3',
    );
  });

  it('understands braces and }} inside expressions', () => {
    expect(renderString('{{ {"a": {"b": 1}} }}', ctx)).toEqual({ a: { b: 1 } });
    expect(renderString('x{{ "}}" }}y', ctx)).toBe('x}}y');
    expect(renderString("x{{ '{{' }}y", ctx)).toBe('x{{y');
    expect(renderString('{{ """a "}}" b""" }}', ctx)).toBe('a "}}" b');
    expect(renderString('{{ r"\\d}}" }}', ctx)).toBe('\\d}}');
    expect(renderString('{{ inputs.n // a comment }}', ctx)).toBe(2);
  });
});

describe('renderValue: deep rendering', () => {
  it('renders nested objects and arrays, leaves other values and keys alone', () => {
    const input = {
      url: 'https://x.org/{{ inputs.day }}',
      count: '{{ outputs.pick.count }}',
      nested: { list: ['{{ inputs.n }}', 'a{{ inputs.n }}', 5, true, null], '{{ key }}': 'k' },
      num: 7,
    };
    expect(renderValue(input, ctx)).toEqual({
      url: 'https://x.org/2024-01-02',
      count: 3,
      nested: { list: [2, 'a2', 5, true, null], '{{ key }}': 'k' },
      num: 7,
    });
    expect(input.count).toBe('{{ outputs.pick.count }}'); // input not modified
    expect(renderValue(42, ctx)).toBe(42);
    expect(renderValue(null, ctx)).toBeNull();
  });

  it('keeps a "__proto__" key as an ordinary key', () => {
    const input = JSON.parse('{"__proto__": {"polluted": "{{ inputs.n }}"}}');
    const out = renderValue(input, ctx) as any;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__']);
    expect(({} as any).polluted).toBeUndefined();
  });
});

describe('numbers', () => {
  it('compares JSON numbers with literals naturally', () => {
    expect(renderString('{{ outputs.pick.count > 0 }}', ctx)).toBe(true);
    expect(renderString("{{ outputs['fetch-data'].body.count > 0 }}", ctx)).toBe(true);
    expect(renderString("{{ outputs['fetch-data'].body.count > 3 }}", ctx)).toBe(true);
    expect(renderString('{{ outputs.pick.count == 3 }}', ctx)).toBe(true);
    expect(renderString('{{ outputs.pick.count >= 3.0 }}', ctx)).toBe(true);
    expect(renderString('{{ inputs.n in [1, 2, 3] }}', ctx)).toBe(true);
    expect(renderString('{{ size(inputs.days) == inputs.n }}', ctx)).toBe(true);
  });

  it('does mixed arithmetic and returns JS numbers', () => {
    const r = renderString('{{ inputs.n + 1 }}', ctx);
    expect(r).toBe(3);
    expect(typeof r).toBe('number');
    expect(renderString('{{ 1 + inputs.n }}', ctx)).toBe(3);
    expect(renderString('{{ inputs.f + 1 }}', ctx)).toBe(4.5);
    expect(renderString('{{ inputs.n * 2.5 }}', ctx)).toBe(5);
    expect(renderString('{{ inputs.n - 5 }}', ctx)).toBe(-3);
    expect(renderString('{{ inputs.n % 2 }}', ctx)).toBe(0);
    expect(renderString('{{ 3 / inputs.n }}', ctx)).toBe(1.5);
    expect(renderString('{{ int(inputs.f) / 2 }}', ctx)).toBe(1); // int division
    expect(renderString('{{ 7 / 2 }}', ctx)).toBe(3);
    expect(renderString('{{ 7.0 / 2 }}', ctx)).toBe(3.5);
    expect(renderString('{{ 10 }}', ctx)).toBe(10);
    expect(renderString('{{ outputs.fetch.body.items.map(i, i.price * 2) }}', ctx)).toEqual([3, 4]);
    expect(renderString('{{ inputs.days.size() + index }}', { ...ctx, index: 3 })).toBe(5);
  });

  it('refuses non-finite results and reports int overflow', () => {
    expect(errorOf(() => renderString('{{ 1.0 / 0.0 }}', ctx)).message).toMatch(/not a finite number/);
    expect(errorOf(() => renderString('{{ 1 / 0 }}', ctx)).message).toMatch(/division by zero/);
    expect(errorOf(() => renderString('{{ 9223372036854775807 + 1 }}', ctx)).message).toMatch(/overflow/);
  });
});

describe('variables and access', () => {
  it("reads ids with '-' through the index syntax", () => {
    expect(renderString("{{ outputs['fetch-data'].body }}", ctx)).toEqual({ ok: true, count: 3.5 });
    expect(renderString('{{ outputs["fetch-data"]["body"]["ok"] }}', ctx)).toBe(true);
  });

  it('exposes item, index, error and execution', () => {
    const c: ExpressionContext = { ...ctx, item: { name: 'x' }, index: 4, error: { message: 'boom', taskId: 't1' } };
    expect(renderString('{{ item.name }}-{{ index }}', c)).toBe('x-4');
    expect(renderString('{{ index }}', c)).toBe(4);
    expect(renderString('failed: {{ error.message }} in {{ error.taskId }}', c)).toBe('failed: boom in t1');
    expect(renderString('{{ execution.id }}', c)).toBe('exec-1');
  });

  it('treats missing variables as empty maps / null', () => {
    expect(renderString('{{ inputs }}', {})).toEqual({});
    expect(renderString('{{ size(outputs) }}', {})).toBe(0);
    expect(renderString('{{ item }}|{{ index }}|{{ error }}', {})).toBe('||');
    expect(renderString('{{ error == null }}', {})).toBe(true);
  });

  it('reports a missing key clearly', () => {
    const e = errorOf(() => renderString('{{ outputs.fetch.body.missing }}', ctx));
    expect(e.message).toContain("no such key: 'missing' in outputs.fetch.body");
    expect(e.message).toContain('outputs.fetch.body.missing');
    expect(e.reason).toBe("no such key: 'missing' in outputs.fetch.body");
    expect(errorOf(() => renderString("{{ outputs['nope'].x }}", ctx)).reason).toBe("no such key: 'nope' in outputs");
    expect(errorOf(() => renderString('{{ inputs.days[5] }}', ctx)).reason).toMatch(/index out of bounds/);
    expect(errorOf(() => renderString('{{ error.message }}', {})).reason).toMatch(/no such key: 'message'/);
  });

  it('supports has(), in and optional chaining to test presence', () => {
    expect(renderString('{{ has(outputs.fetch) }}', ctx)).toBe(true);
    expect(renderString('{{ has(outputs.nope) }}', ctx)).toBe(false);
    expect(renderString('{{ has(outputs.fetch.body.count) }}', ctx)).toBe(true);
    expect(renderString("{{ 'fetch-data' in outputs }}", ctx)).toBe(true);
    expect(renderString('{{ outputs.?nope.?x.orValue(0) }}', ctx)).toBe(0);
    expect(renderString("{{ outputs[?'fetch-data'].?body.?count.orValue(0) }}", ctx)).toBe(3.5);
    expect(renderString('{{ outputs.?nope }}', ctx)).toBeNull();
    expect(renderString('{{ has(outputs.nope) ? outputs.nope : "default" }}', ctx)).toBe('default');
  });

  it('rejects unknown variables and type errors', () => {
    expect(errorOf(() => renderString('{{ foo }}', ctx)).reason).toMatch(/Unknown variable: foo/);
    expect(errorOf(() => renderString('{{ inputs.day + 1 }}', ctx)).reason).toMatch(/no such overload/);
  });
});

describe('evaluateCondition', () => {
  it('accepts a template or a bare expression', () => {
    expect(evaluateCondition('{{ outputs.pick.count > 0 }}', ctx)).toBe(true);
    expect(evaluateCondition('outputs.pick.count > 0', ctx)).toBe(true);
    expect(evaluateCondition(' {{ outputs.pick.count > 5 }} ', ctx)).toBe(false);
    expect(evaluateCondition('inputs.flag && inputs.n == 2', ctx)).toBe(true);
    expect(evaluateCondition('true', ctx)).toBe(true);
    expect(evaluateCondition('false', ctx)).toBe(false);
  });

  it('coerces non-boolean results as documented', () => {
    expect(evaluateCondition('{{ inputs.nothing }}', ctx)).toBe(false);
    expect(evaluateCondition('{{ outputs.pick.count }}', ctx)).toBe(true);
    expect(evaluateCondition('{{ 0 }}', ctx)).toBe(false);
    expect(evaluateCondition('{{ inputs.days }}', ctx)).toBe(true);
    expect(evaluateCondition('{{ [] }}', ctx)).toBe(false);
    expect(evaluateCondition('{{ {} }}', ctx)).toBe(false);
    expect(evaluateCondition('{{ "TRUE" }}', ctx)).toBe(true);
    expect(evaluateCondition('{{ "no" }}', ctx)).toBe(false);
    expect(evaluateCondition('{{ inputs.flag }}{{ inputs.flag }}', { inputs: { flag: '' } })).toBe(false);
    expect(errorOf(() => evaluateCondition('{{ inputs.day }}', ctx)).message).toMatch(/must evaluate to a boolean/);
    expect(errorOf(() => evaluateCondition('  ', ctx)).message).toMatch(/empty/);
    expect(truthiness('off')).toBe(false);
    expect(truthiness('maybe')).toBeUndefined();
  });

  it('fails clearly on errors', () => {
    expect(errorOf(() => evaluateCondition('outputs.nope.count > 0', ctx)).message).toContain("no such key: 'nope'");
    expect(errorOf(() => evaluateCondition('outputs.pick.count >', ctx)).message).toMatch(/syntax error/);
  });
});

describe('secrets', () => {
  it('resolves secret() and reports every value used', () => {
    const used: string[] = [];
    const out = renderValue(
      { h: 'Bearer {{ secret("TOKEN") }}', p: "{{ secret('PASSWORD') }}", again: '{{ secret("TOKEN") }}' },
      ctx,
      { secrets, onSecretUsed: (v) => used.push(v) },
    );
    expect(out).toEqual({ h: 'Bearer s3cr3t-token', p: 'hunter2', again: 's3cr3t-token' });
    expect(new Set(used)).toEqual(new Set(['s3cr3t-token', 'hunter2']));
  });

  it('works in conditions', () => {
    const used: string[] = [];
    expect(evaluateCondition('secret("PASSWORD") == "hunter2"', ctx, { secrets, onSecretUsed: (v) => used.push(v) })).toBe(true);
    expect(used).toEqual(['hunter2']);
  });

  it('fails on an unknown secret, and without a resolver', () => {
    const e = errorOf(() => renderString('{{ secret("NOPE") }}', ctx, { secrets }));
    expect(e.message).toContain("secret 'NOPE' is not defined");
    expect(errorOf(() => renderString('{{ secret("TOKEN") }}', ctx)).message).toContain("secret 'TOKEN' is not defined");
    expect(errorOf(() => renderString('{{ secret(1) }}', ctx, { secrets })).message).toMatch(/no matching overload/);
  });

  it('never puts a secret value in an error message', () => {
    const e = errorOf(() => renderString('{{ inputs[secret("TOKEN")] }}', ctx, { secrets }));
    expect(e.message).not.toContain('s3cr3t-token');
    expect(e.message).toMatch(/no such key.*withheld because the expression reads a secret/);
    const e2 = errorOf(() => renderString('{{ int(secret("PASSWORD")) }}', ctx, { secrets }));
    expect(e2.message).not.toContain('hunter2');
  });

  it('never quotes an operand derived from a secret (a substring, a changed case)', () => {
    for (const expr of [
      'duration(secret("PASSWORD").substring(1, 5))',
      'int(secret("PASSWORD").upperAscii())',
      'timestamp(secret("TOKEN") + "x")',
      'inputs[secret("TOKEN").substring(2)]',
      '{secret("TOKEN").substring(1): 1}.nope',
      'bool(secret("TOKEN").substring(3))',
    ]) {
      const e = errorOf(() => renderString(`{{ ${expr} }}`, ctx, { secrets }));
      expect(e).toBeInstanceOf(ExpressionError);
      for (const fragment of ['unter', 'UNTER', '3cr3t', 'cr3t-token', 's3cr3t']) expect(e.message).not.toContain(fragment);
      expect(e.message).toMatch(/withheld/);
    }
  });
});

describe('SecretMasker', () => {
  it('masks every occurrence of every value, longest first', () => {
    const m = new SecretMasker(['hunter2', 'hunter22', 'x']);
    expect(m.size).toBe(3);
    expect(m.mask('pw=hunter22 and hunter2, x!')).toBe('pw=*** and ***, ***!');
    expect(m.mask('nothing here')).toBe('nothing here');
    expect(m.mask('')).toBe('');
  });

  it('merges overlapping and adjacent values so no fragment leaks', () => {
    const m = new SecretMasker(['abc', 'bcd']);
    expect(m.mask('xabcdx')).toBe('x***x');
    expect(m.mask('abcabc')).toBe('***');
    expect(new SecretMasker(['aa']).mask('aaa')).toBe('***');
  });

  it('ignores empty values and duplicates, supports add()', () => {
    const m = new SecretMasker(['', 'tok']);
    m.add('tok');
    m.add('');
    expect(m.size).toBe(1);
    m.add('other');
    expect(m.size).toBe(2);
    expect(m.mask('tok other')).toBe('*** ***');
    expect(new SecretMasker().mask('abc')).toBe('abc');
  });

  it('masks JSON-escaped and URL-encoded forms', () => {
    const m = new SecretMasker(['p"a/ss w']);
    expect(m.mask(JSON.stringify({ pw: 'p"a/ss w' }))).toBe('{"pw":"***"}');
    expect(m.mask(`https://x.org/?pw=${encodeURIComponent('p"a/ss w')}`)).toBe('https://x.org/?pw=***');
  });

  it('masks every mix of percent-encoding, form encoding and JSON escapes', () => {
    const secret = 'p"a/ss wörd&=?é';
    const m = new SecretMasker([secret]);
    const variants = [
      encodeURIComponent(secret),
      encodeURI(secret),
      encodeURIComponent(secret).toLowerCase().replace(/%[0-9a-f]{2}/g, (x) => x.toLowerCase()),
      new URLSearchParams({ pw: secret }).toString().slice(3),
      Object.assign(new URL('https://x.org/'), { pathname: secret }).pathname.slice(1),
      Object.assign(new URL('https://x.org/'), { search: secret }).search.slice(1),
      Object.assign(new URL('https://x.org/'), { hash: secret }).hash.slice(1),
      JSON.stringify(secret).slice(1, -1),
      JSON.stringify(secret).slice(1, -1).replace(/\//g, '\\/'),
      [...secret].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''),
      'p%22a/ss%20w\\u00f6rd&=?%C3%A9',
    ];
    for (const v of variants) {
      expect(m.mask(`before ${v} after`), v).toBe('before *** after');
    }
  });

  it('masks base64 and base64url, alone and inside longer encoded data (Basic auth)', () => {
    const secret = 'hunter2-is-my-password';
    const m = new SecretMasker([secret]);
    for (const prefix of ['', 'a', 'ab', 'abc', 'user:', 'u:']) {
      for (const suffix of ['', 'x', 'xy', '!!!']) {
        const b64 = Buffer.from(`${prefix}${secret}${suffix}`).toString('base64');
        for (const encoded of [b64, b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')]) {
          const masked = m.mask(`Authorization: Basic ${encoded}`);
          expect(masked, `${prefix}|${suffix}`).toContain('***');
          // what is left cannot be decoded back to the secret or a large part of it
          const rest = masked.replace('Authorization: Basic ', '').split('***').join('');
          expect(Buffer.from(rest, 'base64').toString('latin1')).not.toContain('password');
        }
      }
    }
    expect(new SecretMasker(['abc']).mask('abcdefgh')).toBe('***defgh');
    expect(new SecretMasker(['abc']).mask('YWJj')).toBe('***');
  });

  it('masks strings deeply, map keys included, without touching the input', () => {
    const m = new SecretMasker(['secret']);
    const input = { secret: 'my secret', list: ['secret', 1, true, null, { k: 'a-secret-b' }], n: 5 };
    const out = m.maskDeep(input);
    expect(out).toEqual({ '***': 'my ***', list: ['***', 1, true, null, { k: 'a-***-b' }], n: 5 });
    expect(input.secret).toBe('my secret');
    expect(m.maskDeep('secret')).toBe('***');
    expect(m.maskDeep(42)).toBe(42);
    expect(m.maskDeep({ 'a secret': 1, 'a ***': 2, 'a c2VjcmV0': 3 })).toEqual({ 'a ***': 1, 'a *** (2)': 2, 'a *** (3)': 3 });
  });
});

describe('checkTemplates', () => {
  it('returns [] for valid templates and plain text', () => {
    expect(checkTemplates('plain')).toEqual([]);
    expect(checkTemplates('{{ vars.greeting }} {{ inputs.day }}')).toEqual([]);
    expect(checkTemplates("{{ outputs['fetch-data'].body.count > 0 }}")).toEqual([]);
    expect(checkTemplates('{{ secret("X") }}')).toEqual([]); // never evaluates
    expect(checkTemplates('{{ outputs.a.items.filter(i, i.tags.exists(t, t == "x")).size() }}')).toEqual([]);
  });

  it('reports unterminated templates', () => {
    const p = checkTemplates('hello {{ inputs.day ');
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/unterminated '\{\{'/);
    expect(checkTemplates('{{ "unterminated string }}')).toHaveLength(1);
    expect(errorOf(() => renderString('a {{ inputs.day', ctx)).message).toMatch(/unterminated/);
  });

  it('reports one message per bad template', () => {
    const p = checkTemplates('{{ 1 + }} ok {{ inputs.day }} {{ foo.bar }} {{ }} {{ inputs..x }}');
    expect(p).toHaveLength(4);
    expect(p[0]).toMatch(/^'\{\{ 1 \+ \}\}': syntax error/);
    expect(p[1]).toMatch(/Unknown variable: foo/);
    expect(p[2]).toMatch(/empty expression/);
    expect(p[3]).toMatch(/syntax error/);
  });

  it('reports type errors detectable without data', () => {
    expect(checkTemplates('{{ "a" + 1 }}')[0]).toMatch(/no matching overload|no such overload/);
    expect(checkTemplates('{{ secret(1) }}')).toHaveLength(1);
    expect(checkTemplates('{{ inputs.toString() }}')).toHaveLength(1);
  });

  it('checks conditions in both forms', () => {
    expect(checkCondition('outputs.pick.count > 0')).toEqual([]);
    expect(checkCondition('{{ outputs.pick.count > 0 }}')).toEqual([]);
    expect(checkCondition('outputs.pick.count >')).toHaveLength(1);
    expect(checkCondition('')).toHaveLength(1);
  });
});

describe('collectReferences', () => {
  it('lists literal references to outputs, inputs, vars and secrets', () => {
    const r = collectReferences(
      "{{ outputs.fetch.body }} {{ outputs['fetch-data'].x }} {{ has(outputs.maybe) }} {{ inputs.day }} {{ vars.greeting }} {{ secret('TOKEN') }}",
    );
    expect(r.outputs.sort()).toEqual(['fetch', 'fetch-data', 'maybe']);
    expect(r.inputs).toEqual(['day']);
    expect(r.vars).toEqual(['greeting']);
    expect(r.secrets).toEqual(['TOKEN']);
    expect(collectReferences('outputs.pick.count > 0', { bareExpression: true }).outputs).toEqual(['pick']);
    expect(collectReferences('outputs.pick.count > 0').outputs).toEqual([]);
  });
});

describe('sandbox: no prototype access', () => {
  const attempts = [
    '{{ inputs.__proto__ }}',
    '{{ inputs.constructor }}',
    "{{ inputs['constructor'] }}",
    "{{ execution['constructor'] }}",
    "{{ execution['constructor']['constructor'] }}",
    "{{ execution['__proto__'] }}",
    '{{ inputs.obj.constructor }}',
    '{{ inputs.days.constructor }}',
    '{{ inputs.toString() }}',
    '{{ inputs.hasOwnProperty("n") }}',
    '{{ "".constructor }}',
    '{{ inputs.day.constructor }}',
    '{{ inputs.n.constructor }}',
    '{{ inputs.prototype }}',
    '{{ outputs.valueOf() }}',
    '{{ inputs.days.map(x, x.constructor) }}',
  ];
  for (const t of attempts) {
    it(`refuses ${t}`, () => {
      let result: unknown;
      try {
        result = renderString(t, ctx);
      } catch (err) {
        expect(err).toBeInstanceOf(ExpressionError);
        return;
      }
      // if anything is returned it must be harmless plain data, never a function
      expect(typeof result).not.toBe('function');
      expect(JSON.parse(JSON.stringify(result ?? null))).toEqual(result ?? null);
    });
  }

  it('reads own "__proto__"/"constructor" keys from data as plain values only', () => {
    const data = { inputs: JSON.parse('{"__proto__": {"x": 1}, "constructor": "c"}') };
    expect(renderString("{{ inputs['constructor'] }}", data)).toBe('c');
    expect(renderString("{{ inputs['__proto__'] }}", data)).toEqual({ x: 1 });
    expect(renderString("{{ inputs['__proto__'].x + 1 }}", data)).toBe(2);
    expect(renderString('{{ outputs.t.body.constructor.name }}', { outputs: { t: { body: { constructor: { name: 'n' } } } } })).toBe('n');
    expect(({} as any).x).toBeUndefined();
  });
});

describe('limits', () => {
  it('refuses expressions longer than maxTemplateLength', () => {
    const long = `{{ "${'a'.repeat(70 * 1024)}" }}`;
    expect(errorOf(() => renderString(long, ctx)).message).toMatch(/too long/);
    expect(errorOf(() => renderString('{{ inputs.day + "xxxxxxxx" }}', ctx, { maxTemplateLength: 10 })).message).toMatch(
      /too long/,
    );
    expect(checkTemplates(long)[0]).toMatch(/too long/);
    // long literal text around a short template is fine
    expect(renderString(`${'x'.repeat(100 * 1024)}{{ inputs.n }}`, ctx)).toHaveLength(100 * 1024 + 1);
  });

  it('truncates the expression in messages to 200 characters', () => {
    const e = errorOf(() => renderString(`{{ inputs.nope + "${'b'.repeat(500)}" }}`, ctx));
    expect(e.expression.length).toBeLessThanOrEqual(201);
    expect(e.message.length).toBeLessThan(400);
  });

  it('limits nesting of comprehensions and bind', () => {
    expect(renderString('{{ [1, 2].map(x, [3, 4].map(y, x * y)) }}', ctx)).toEqual([
      [3, 4],
      [6, 8],
    ]);
    const deep = '{{ [1].map(a, [1].map(b, [1].map(c, a + b + c))) }}';
    expect(errorOf(() => renderString(deep, ctx)).message).toMatch(/nested at most 2/);
    expect(checkTemplates('{{ cel.bind(a, [1], cel.bind(b, a + a, cel.bind(c, b + b, c + c))) }}')).toHaveLength(1);
    expect(renderString('{{ cel.bind(t, inputs.n * 2, t + t) }}', ctx)).toBe(8);
  });

  it('runs matches() on RE2: patterns that backtrack in JavaScript finish in linear time', () => {
    expect(renderString('{{ inputs.day.matches("^[0-9]{4}-[0-9]{2}-[0-9]{2}$") }}', ctx)).toBe(true);
    const long = { inputs: { s: `${'a'.repeat(100_000)}!` } };
    for (const pattern of ['(a+)+$', '^(a|aa)*$', '(x+x+)+y', '((a*)*b)', '(?:a{2,})+$', '^(a|a?)+$']) {
      expect(checkTemplates(`{{ inputs.s.matches("${pattern}") }}`)).toEqual([]);
      const started = Date.now();
      expect(renderString(`{{ inputs.s.matches("${pattern}") }}`, long)).toBe(false);
      expect(Date.now() - started).toBeLessThan(1000);
    }
    // the root node and nested calls both run on RE2
    expect(renderString('{{ [inputs.s].exists(x, x.matches("(a+)+$")) }}', long)).toBe(false);
    expect(checkTemplates('{{ inputs.day.matches(inputs.pattern) }}')[0]).toMatch(/string literal/);
    expect(checkTemplates('{{ inputs.day.matches("(a)\\\\1") }}')[0]).toMatch(/RE2 syntax/);
    expect(checkTemplates('{{ inputs.day.matches("(?=a)") }}')[0]).toMatch(/RE2 syntax/);
    expect(regexProblem('^(https?|ftp)://[^/]+(/.*)?$')).toBeNull();
    expect(regexProblem('((a{100}){100}){100}')).toMatch(/too complex|RE2 syntax/);
    expect(errorOf(() => renderString('{{ inputs.day.matches(1) }}', ctx)).message).toMatch(/matches/);
    expect(errorOf(() => renderString('{{ inputs.day.matches(1) }}', ctx)).message).not.toMatch(/matches_re2/);
  });

  it('refuses results that are too large', () => {
    const big = { inputs: { l: Array.from({ length: 50 }, (_, i) => i) } };
    expect(errorOf(() => renderString('{{ inputs.l.map(x, inputs.l) }}', big, { maxResultNodes: 1000 })).message).toMatch(
      /too large/,
    );
    expect((renderString('{{ inputs.l.map(x, inputs.l) }}', big) as unknown[]).length).toBe(50);
  });

  it('caches compiled expressions and evaluates repeatedly with different data', () => {
    for (let i = 0; i < 50; i++) {
      expect(renderString('{{ inputs.n * 2 }}', { inputs: { n: i } })).toBe(i * 2);
    }
  });
});

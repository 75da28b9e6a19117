/**
 * Key-management authority (issue 7): namespace allow-list containment, which decides which keys a
 * namespace-restricted manager can see and grant, and the shape of a key's own `rateLimit`.
 */
import { describe, expect, it } from 'vitest';
import { formatRateLimitWindow, parseKeyRateLimit, presentKeyRateLimit } from '../../src/engine/access/key-rate-limit';
import { namespacePatternCovers, namespacesBeyond, namespacesWithin } from '../../src/engine/access/namespace-patterns';
import { ValidationError } from '../../src/engine/errors';

describe('namespacePatternCovers(pattern, candidate): every namespace the candidate matches, the pattern matches', () => {
  it.each([
    ['team.*', 'team'],
    ['team.*', 'team.a'],
    ['team.*', 'team.a.b'],
    ['team.*', 'team.*'],
    ['team.*', 'team.a.*'],
    ['team.a', 'team.a'],
    ['*', 'anything'],
    ['*', 'x.*'],
    ['*', '*'],
  ])('%s covers %s', (pattern, candidate) => {
    expect(namespacePatternCovers(pattern, candidate)).toBe(true);
  });

  it.each([
    ['team.*', 'teams'],
    ['team.*', 'teamx.a'],
    ['team.*', 'tea'],
    ['team.*', 'other.team'],
    ['team.*', '*'],
    ['team.a', 'team.a.*'],
    ['team.a', 'team.a.b'],
    ['team.a', 'team'],
    ['team.a.*', 'team.*'],
    ['team.a.*', 'team'],
    ['team', 'team.*'],
  ])('%s does not cover %s', (pattern, candidate) => {
    expect(namespacePatternCovers(pattern, candidate)).toBe(false);
  });
});

describe('namespacesWithin(inner, outer): list containment, null/undefined = every namespace', () => {
  it.each([
    [['team.a'], ['team.*']],
    [['team.a.*', 'team'], ['team.*']],
    [['team.a', 'ops.x'], ['team.*', 'ops.*']],
    [['team.a'], ['team.a']],
    [['x', 'y.*'], ['*']],
    [null, ['*']],
    [null, undefined],
    [null, null],
    [['team.a'], null],
    [['*'], undefined],
    [['*'], ['ops', '*']],
  ] as const)('%j lies within %j', (inner, outer) => {
    expect(namespacesWithin(inner, outer)).toBe(true);
    expect(namespacesBeyond(inner, outer)).toEqual([]);
  });

  it.each([
    [null, ['team.*'], ['*']],
    [undefined, ['team.*'], ['*']],
    [['*'], ['team.*'], ['*']],
    [['team.a', 'ops'], ['team.*'], ['ops']],
    [['team.*'], ['team.a'], ['team.*']],
    [['team.*'], ['team.a.*'], ['team.*']],
    [['teams'], ['team.*'], ['teams']],
    [['team.*', 'team.b'], ['team.a', 'team.b'], ['team.*']],
  ] as const)('%j does not lie within %j (beyond: %j)', (inner, outer, beyond) => {
    expect(namespacesWithin(inner, outer)).toBe(false);
    expect(namespacesBeyond(inner, outer)).toEqual(beyond);
  });

  it('a single-pattern check is exact: a glob is never covered by a union of narrower entries', () => {
    // team.* matches team, team.a, team.b, team.zzz, ...: no finite list of narrower entries holds it
    expect(namespacesWithin(['team.*'], ['team', 'team.a.*', 'team.b.*'])).toBe(false);
    // but it is covered by an ancestor glob
    expect(namespacesWithin(['team.a.*'], ['team.*'])).toBe(true);
  });

  it('is reflexive and transitive on sample lists', () => {
    const lists: (readonly string[] | null)[] = [null, ['*'], ['team.*'], ['team.a.*'], ['team.a'], ['team.a', 'ops.*'], ['ops.eu'], ['team.*', 'ops.*']];
    for (const a of lists) {
      expect(namespacesWithin(a, a)).toBe(true);
      for (const b of lists) {
        for (const c of lists) {
          if (namespacesWithin(a, b) && namespacesWithin(b, c)) expect(namespacesWithin(a, c), `${JSON.stringify([a, b, c])}`).toBe(true);
        }
      }
    }
  });
});

describe('parseKeyRateLimit', () => {
  it.each([
    [{ requests: 100, window: '1m' }, { requests: 100, windowSeconds: 60 }],
    [{ requests: 1, window: '1s' }, { requests: 1, windowSeconds: 1 }],
    [{ requests: 5000, window: '1h' }, { requests: 5000, windowSeconds: 3600 }],
    [{ requests: 10, window: 'PT15M' }, { requests: 10, windowSeconds: 900 }],
    [{ requests: 1_000_000, window: '24h' }, { requests: 1_000_000, windowSeconds: 86_400 }],
    [{ requests: 3, window: '90s' }, { requests: 3, windowSeconds: 90 }],
  ])('accepts %j as %j', (input, stored) => {
    expect(parseKeyRateLimit(input)).toEqual(stored);
  });

  it('treats null and undefined as "no limit"', () => {
    expect(parseKeyRateLimit(null)).toBeNull();
    expect(parseKeyRateLimit(undefined)).toBeNull();
  });

  it.each([
    [{ requests: 0, window: '1m' }, 'rateLimit.requests'],
    [{ requests: 1.5, window: '1m' }, 'rateLimit.requests'],
    [{ requests: '100', window: '1m' }, 'rateLimit.requests'],
    [{ requests: 1_000_001, window: '1m' }, 'rateLimit.requests'],
    [{ window: '1m' }, 'rateLimit.requests'],
    [{ requests: 10, window: '500ms' }, 'rateLimit.window'],
    [{ requests: 10, window: '1500ms' }, 'rateLimit.window'],
    [{ requests: 10, window: '2d' }, 'rateLimit.window'],
    [{ requests: 10, window: 60 }, 'rateLimit.window'],
    [{ requests: 10, window: 'soon' }, 'rateLimit.window'],
    [{ requests: 10 }, 'rateLimit.window'],
    [{ requests: 10, window: '1m', burst: 5 }, 'rateLimit'],
    ['100/1m', 'rateLimit'],
    [[100, '1m'], 'rateLimit'],
  ])('rejects %j with a VALIDATION_ERROR on %s', (input, field) => {
    let error: unknown;
    try {
      parseKeyRateLimit(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    const details = (error as ValidationError).details as { field: string; message: string }[];
    expect(details.map((d) => d.field)).toContain(field);
    for (const d of details) expect(d.message.length).toBeGreaterThan(10);
  });

  it('formats windows in the shortest exact unit and round-trips', () => {
    expect([1, 59, 60, 90, 3600, 5400, 7200, 86_400].map(formatRateLimitWindow)).toEqual(['1s', '59s', '1m', '90s', '1h', '90m', '2h', '24h']);
    for (const seconds of [1, 7, 60, 61, 120, 3600, 3660, 86_400]) {
      const presented = presentKeyRateLimit({ requests: 9, windowSeconds: seconds })!;
      expect(parseKeyRateLimit(presented)).toEqual({ requests: 9, windowSeconds: seconds });
    }
    expect(presentKeyRateLimit(null)).toBeNull();
  });
});

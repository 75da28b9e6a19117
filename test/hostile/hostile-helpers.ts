/**
 * Shared pieces of the standing hostile-input suite (test/hostile): the health check every file
 * ends with, timing, a health prober that runs while something heavy is under way, and the
 * encodings of a secret that must never surface.
 */
import { expect } from 'vitest';

/** Anything that answers HTTP at a base URL. */
export interface Target {
  url: string;
}

/** GET without credentials; returns status and the milliseconds it took. */
export async function timedGet(url: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const res = await fetch(url);
  await res.arrayBuffer();
  return { status: res.status, ms: performance.now() - started };
}

/** The server still serves its probes: `/health/live` and `/health/ready` answer 200. */
export async function expectHealthy(target: Target): Promise<void> {
  const live = await timedGet(`${target.url}/health/live`);
  expect(live.status, 'GET /health/live after the hostile cases').toBe(200);
  const ready = await timedGet(`${target.url}/health/ready`);
  expect(ready.status, 'GET /health/ready after the hostile cases').toBe(200);
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - started };
}

/**
 * Probes `/health/live` every `intervalMs` while `work` runs and returns the slowest answer.
 * A probe that is still waiting when the work ends counts with its full latency.
 */
export async function probeWhile<T>(target: Target, work: () => Promise<T>, intervalMs = 10): Promise<{ value: T; maxProbeMs: number; probes: number; failed: number }> {
  let done = false;
  let maxProbeMs = 0;
  let probes = 0;
  let failed = 0;
  const prober = (async () => {
    while (!done) {
      const probe = await timedGet(`${target.url}/health/live`).catch(() => ({ status: 0, ms: Number.POSITIVE_INFINITY }));
      probes += 1;
      if (probe.status !== 200) failed += 1;
      if (probe.ms > maxProbeMs) maxProbeMs = probe.ms;
      if (!done) await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  try {
    const value = await work();
    return { value, maxProbeMs, probes, failed };
  } finally {
    done = true;
    await prober;
  }
}

/**
 * The forms in which a secret value could leak: itself and its common encodings. A response,
 * log or error must contain none of them.
 */
export function secretForms(value: string): Record<string, string> {
  const forms: Record<string, string> = {
    raw: value,
    json: JSON.stringify(value).slice(1, -1),
    encodeURIComponent: encodeURIComponent(value),
    encodeURI: encodeURI(value),
    urlPath: new URL(`http://x/${value}`).pathname.slice(1),
    urlQuery: new URLSearchParams({ q: value }).toString().slice(2),
    base64: Buffer.from(value, 'utf8').toString('base64'),
    base64url: Buffer.from(value, 'utf8').toString('base64url'),
  };
  // base64 without padding too (a padded form may be cut or re-padded)
  forms.base64NoPad = forms.base64.replace(/=+$/, '');
  return forms;
}

/** The names of the forms of `value` found in `text` (empty when nothing leaked). */
export function leakedForms(text: string, value: string): string[] {
  return Object.entries(secretForms(value))
    .filter(([, form]) => form.length > 0 && text.includes(form))
    .map(([name]) => name);
}

/** Asserts that none of the forms of any of `values` occurs in `text`. */
export function expectNoSecret(text: string, values: readonly string[], where: string): void {
  for (const value of values) {
    expect(leakedForms(text, value), `${where} leaks a form of a secret`).toEqual([]);
  }
}

/** `count` distinct keys `k0..k{count-1}` as YAML block-mapping lines under `indent`. */
export function manyKeys(count: number, indent = '  ', value = 'v'): string {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) lines.push(`${indent}k${i}: ${value}`);
  return lines.join('\n');
}

export const MiB = 1024 * 1024;

import type { Diagnostic } from './types';

/** Location of a value inside the workflow document: map keys and list indices. */
export type PathSegment = string | number;
export type Path = readonly PathSegment[];

const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** `tasks[2].retry.delay`; keys that would read ambiguously (dots, spaces) are quoted. */
export function formatPath(path: Path): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (PLAIN_KEY.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/**
 * Edit distance, or `max + 1` as soon as it is known to exceed `max`: suggestions only care about
 * small distances, so the work stays proportional to the shorter word, not to the product of both
 * lengths (a hostile document can use a megabyte-long key).
 */
export function levenshtein(a: string, b: string, max = Number.POSITIVE_INFINITY): number {
  if (a === b) return 0;
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost);
      if (current[j] < rowMin) rowMin = current[j];
    }
    if (rowMin > max) return max + 1;
    previous = current;
  }
  return previous[b.length];
}

/** The closest candidate within edit distance 2 (case-insensitive), or null. */
export function closestMatch(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  const lower = word.toLowerCase();
  for (const candidate of candidates) {
    const distance = levenshtein(lower, candidate.toLowerCase(), bestDistance - 1);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

export function unknownPropertyMessage(key: string, allowed: readonly string[], suggestion = closestMatch(key, allowed)): string {
  return suggestion !== null
    ? `unknown property '${key}'; did you mean '${suggestion}'?`
    : `unknown property '${key}'; allowed: ${allowed.join(', ')}`;
}

/** Longer texts (a huge key quoted in a message) are cut in the middle: a diagnostic names, it does not echo. */
const MAX_MESSAGE_LENGTH = 400;
const MAX_PATH_LENGTH = 300;

function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const half = Math.floor((max - 5) / 2);
  return `${text.slice(0, half)} ... ${text.slice(text.length - half)}`;
}

/** Collects diagnostics; lines are resolved lazily from the YAML source through `locate`. */
export class DiagnosticSink {
  private readonly entries: { path: Path; message: string; line?: number }[] = [];
  /** reported but not kept: a hostile document can produce one problem per value */
  private overflow = 0;

  constructor(
    private readonly locate: (path: Path) => number | undefined,
    private readonly maxKept = 10_000,
  ) {}

  report(path: Path, message: string): void {
    this.reportAtLine(path, message, undefined);
  }

  /** For problems found before there is a document to walk (syntax, depth). */
  reportAtLine(path: Path, message: string, line: number | undefined): void {
    if (this.entries.length >= this.maxKept) this.overflow++;
    else this.entries.push({ path, message, line });
  }

  get count(): number {
    return this.entries.length + this.overflow;
  }

  /**
   * Sorted by line so a reader can walk the file top to bottom; identical (path, message) pairs
   * are reported once; the list is capped so a pathological document cannot produce a huge
   * response.
   */
  finish(limit: number): Diagnostic[] {
    const seen = new Set<string>();
    const out: Diagnostic[] = [];
    for (const entry of this.entries) {
      const path = clip(formatPath(entry.path), MAX_PATH_LENGTH);
      const message = clip(entry.message, MAX_MESSAGE_LENGTH);
      const key = `${path}\u0000${message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const line = entry.line ?? this.locate(entry.path);
      out.push(line === undefined ? { path, message } : { path, message, line });
    }
    // Array.prototype.sort is stable: diagnostics on one line keep the order they were found in.
    out.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    if (out.length > limit || this.overflow > 0) {
      const dropped = Math.max(0, out.length - limit) + this.overflow;
      out.length = Math.min(out.length, limit);
      out.push({ path: '', message: `too many problems: ${dropped} more not shown` });
    }
    return out;
  }
}

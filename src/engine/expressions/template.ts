/**
 * Splits a string into literal text and `{{ expr }}` segments.
 *
 * The scanner understands enough CEL to find the closing `}}`: string literals (single, double,
 * triple-quoted, raw `r"..."`, with backslash escapes), `//` comments, and braces of map literals,
 * so `{{ {"a": {"b": 1}} }}` and `{{ "}}" }}` are single templates.
 */

export type Segment =
  | { kind: 'text'; value: string }
  | { kind: 'expr'; source: string; /** offset of the `{{` in the text */ offset: number };

export interface ScanResult {
  segments: Segment[];
  /** set when a `{{` has no matching `}}` (segments then holds what came before it) */
  unterminated?: { offset: number; excerpt: string };
}

const IDENT = /[A-Za-z0-9_]/;

function isRawString(text: string, quoteAt: number): boolean {
  // prefixes: r, R, b, B, rb, br (any case)
  let p = quoteAt - 1;
  let raw = false;
  let letters = 0;
  while (p >= 0 && letters < 2 && /[rRbB]/.test(text[p])) {
    if (text[p] === 'r' || text[p] === 'R') raw = true;
    p--;
    letters++;
  }
  if (!raw) return false;
  return p < 0 || !IDENT.test(text[p]);
}

/** Returns the index just past the string literal starting at `start` (a quote), or -1. */
function skipString(text: string, start: number): number {
  const q = text[start];
  const raw = isRawString(text, start);
  const triple = text[start + 1] === q && text[start + 2] === q;
  let i = start + (triple ? 3 : 1);
  while (i < text.length) {
    const c = text[i];
    if (c === '\\' && !raw) {
      i += 2;
      continue;
    }
    if (triple) {
      if (c === q && text[i + 1] === q && text[i + 2] === q) return i + 3;
    } else if (c === q) {
      return i + 1;
    }
    i++;
  }
  return -1;
}

/** Finds the `}}` closing the expression that starts at `from`; -1 when there is none. */
export function findClose(text: string, from: number): number {
  let depth = 0;
  let i = from;
  while (i < text.length) {
    const c = text[i];
    if (c === '"' || c === "'") {
      const end = skipString(text, i);
      if (end === -1) return -1;
      i = end;
      continue;
    }
    if (c === '/' && text[i + 1] === '/') {
      // line comment: ends at a newline, or at the closing braces of the template
      i += 2;
      while (i < text.length && text[i] !== '\n' && !(text[i] === '}' && text[i + 1] === '}')) i++;
      continue;
    }
    if (c === '{') depth++;
    else if (c === '}') {
      if (depth > 0) depth--;
      else if (text[i + 1] === '}') return i;
    }
    i++;
  }
  return -1;
}

export function scanTemplate(text: string): ScanResult {
  const segments: Segment[] = [];
  let i = 0;
  for (;;) {
    const open = text.indexOf('{{', i);
    if (open === -1) break;
    if (open > i) segments.push({ kind: 'text', value: text.slice(i, open) });
    const close = findClose(text, open + 2);
    if (close === -1) {
      return { segments, unterminated: { offset: open, excerpt: text.slice(open, open + 60) } };
    }
    segments.push({ kind: 'expr', source: text.slice(open + 2, close), offset: open });
    i = close + 2;
  }
  if (i < text.length) segments.push({ kind: 'text', value: text.slice(i) });
  return { segments };
}

/** The expression when the whole text is exactly one template (whitespace around it allowed). */
export function singleExpression(segments: Segment[]): Extract<Segment, { kind: 'expr' }> | null {
  let expr: Extract<Segment, { kind: 'expr' }> | null = null;
  for (const s of segments) {
    if (s.kind === 'expr') {
      if (expr) return null;
      expr = s;
    } else if (s.value.trim() !== '') return null;
  }
  return expr;
}

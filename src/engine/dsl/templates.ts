/**
 * Lexical scanning of `{{ expr }}` templates: where they are, and which task outputs and loop
 * variables an expression mentions. This is not an expression parser (the expressions module
 * owns the syntax); it is just enough to check references at apply time.
 */

export interface TemplateSpan {
  /** text between the braces, untrimmed */
  expression: string;
  /** offset of `{{` in the scanned string */
  start: number;
  /** false when `{{` has no matching `}}` */
  terminated: boolean;
}

/**
 * Finds every `{{ ... }}`. A `}}` inside a quoted string literal does not close the template,
 * so `{{ '}}' }}` is one template; if the quotes do not balance, the first `}}` closes it.
 */
export function scanTemplates(text: string): TemplateSpan[] {
  const spans: TemplateSpan[] = [];
  let from = 0;
  for (;;) {
    const start = text.indexOf('{{', from);
    if (start < 0) return spans;
    const end = findTemplateEnd(text, start + 2);
    if (end < 0) {
      spans.push({ expression: text.slice(start + 2), start, terminated: false });
      return spans;
    }
    spans.push({ expression: text.slice(start + 2, end), start, terminated: true });
    from = end + 2;
  }
}

function findTemplateEnd(text: string, from: number): number {
  let quote: string | null = null;
  for (let i = from; i < text.length; i++) {
    const ch = text[i];
    if (quote !== null) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = null;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
    } else if (ch === '}' && text[i + 1] === '}') {
      return i;
    }
  }
  return text.indexOf('}}', from);
}

export interface OutputReference {
  taskId: string;
  /**
   * Set for `outputs.my-task`: expression languages read that as `outputs.my - task`, so when a
   * task called `my-task` exists the author almost certainly meant it.
   */
  dashedId?: string;
}

export interface ExpressionReferences {
  outputs: OutputReference[];
  /** loop variables (`item`, `index`) used as free identifiers */
  loopVariables: string[];
}

const LOOP_VARIABLES = new Set(['item', 'index']);
const IDENT_START = /[A-Za-z_$]/;
const IDENT_PART = /[A-Za-z0-9_$]/;

/**
 * Lists the free identifiers that matter for reference checks: `outputs.<id>`,
 * `outputs['<id>']`, `outputs["<id>"]`, `item`, `index`. Member accesses (`x.item`) and
 * string literal contents are ignored.
 */
export function findReferences(expression: string): ExpressionReferences {
  const result: ExpressionReferences = { outputs: [], loopVariables: [] };
  const s = expression;
  let i = 0;
  while (i < s.length) {
    const ch = s[i];
    if (ch === "'" || ch === '"') {
      i = skipStringLiteral(s, i);
    } else if (/[0-9]/.test(ch)) {
      // numbers such as 1e5 or 0x1F must not yield identifiers
      while (i < s.length && /[0-9A-Za-z_.]/.test(s[i])) i++;
    } else if (IDENT_START.test(ch)) {
      const start = i;
      while (i < s.length && IDENT_PART.test(s[i])) i++;
      const name = s.slice(start, i);
      if (isMemberAccess(s, start)) continue;
      if (name === 'outputs') {
        const ref = readOutputsAccessor(s, i);
        if (ref) {
          result.outputs.push(ref.reference);
          i = ref.next;
        }
      } else if (LOOP_VARIABLES.has(name) && !result.loopVariables.includes(name)) {
        result.loopVariables.push(name);
      }
    } else {
      i++;
    }
  }
  return result;
}

function skipStringLiteral(s: string, start: number): number {
  const quote = s[start];
  let i = start + 1;
  while (i < s.length && s[i] !== quote) i += s[i] === '\\' ? 2 : 1;
  return i + 1;
}

function isMemberAccess(s: string, identStart: number): boolean {
  let j = identStart - 1;
  while (j >= 0 && /\s/.test(s[j])) j--;
  return j >= 0 && s[j] === '.';
}

function skipSpaces(s: string, i: number): number {
  while (i < s.length && /\s/.test(s[i])) i++;
  return i;
}

/** After `outputs`: `.id`, `?.id` or `[ 'id' ]`. */
function readOutputsAccessor(s: string, afterName: number): { reference: OutputReference; next: number } | null {
  let i = skipSpaces(s, afterName);
  if (s[i] === '?' && s[i + 1] === '.') i++;
  if (s[i] === '.') {
    i = skipSpaces(s, i + 1);
    if (!IDENT_START.test(s[i] ?? '')) return null;
    const start = i;
    while (i < s.length && IDENT_PART.test(s[i])) i++;
    const reference: OutputReference = { taskId: s.slice(start, i) };
    const dashed = /^(?:-[A-Za-z0-9_]+)+/.exec(s.slice(i));
    if (dashed) reference.dashedId = reference.taskId + dashed[0];
    return { reference, next: i };
  }
  if (s[i] === '[') {
    i = skipSpaces(s, i + 1);
    const quote = s[i];
    if (quote !== "'" && quote !== '"') return null;
    const end = skipStringLiteral(s, i);
    const literal = s.slice(i + 1, end - 1).replace(/\\(.)/g, '$1');
    const close = skipSpaces(s, end);
    if (s[close] !== ']') return null;
    return { reference: { taskId: literal }, next: close + 1 };
  }
  return null;
}

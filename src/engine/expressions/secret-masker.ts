/**
 * Replaces secret values by `***` in text and in JSON values.
 *
 * - Every non-empty value is masked, however short.
 * - Overlapping or adjacent occurrences of several secrets are merged into a single `***`, so no
 *   fragment of either leaks (`abc` + `bcd` in `xabcdx` gives `x***x`).
 * - A value also hides in its common encodings, which is how it reaches logs and errors through
 *   URLs, JSON bodies and auth headers:
 *   - percent-encoding in any mix (a URL encodes some characters and not others, with upper- or
 *     lower-case hex, `+` for a space in forms), and JSON escapes (`\u00e9`, `\/`, `\"`);
 *   - base64 and base64url of the value alone, and of the value embedded in longer data (a
 *     `user:password` Basic credential): the characters of the encoding that depend only on the
 *     value are found at each of the three byte alignments.
 */
export class SecretMasker {
  /** the values as added (what `size` counts) */
  private readonly values = new Set<string>();
  /** literal needles (values and their base64 forms), longest first */
  private needles: string[] = [];
  /** the values, longest first: searched in the unescaped text */
  private plain: string[] = [];

  constructor(values?: Iterable<string>) {
    if (values) for (const v of values) this.add(v);
  }

  get size(): number {
    return this.values.size;
  }

  add(value: string): void {
    if (typeof value !== 'string' || value.length === 0 || this.values.has(value)) return;
    this.values.add(value);
    const all = new Set([...this.needles, ...literalForms(value)]);
    this.needles = [...all].sort((a, b) => b.length - a.length);
    this.plain = [...this.values].sort((a, b) => b.length - a.length);
  }

  mask(text: string): string {
    if (typeof text !== 'string' || this.needles.length === 0 || text.length === 0) return text;
    // Collect every occurrence (overlapping ones included) as [start, end) ranges.
    let ranges: Array<[number, number]> | null = null;
    for (const needle of this.needles) {
      let from = text.indexOf(needle);
      while (from !== -1) {
        (ranges ??= []).push([from, from + needle.length]);
        from = text.indexOf(needle, from + 1);
      }
    }
    if (MAY_BE_ESCAPED.test(text)) {
      // Search the values in the text with its escapes decoded, then map matches back. `+` is
      // a space only in form encoding, and a plain `+` elsewhere: try both readings.
      for (const plusIsSpace of text.includes('+') ? [false, true] : [false]) {
        const u = unescape(text, plusIsSpace);
        if (!u) continue;
        for (const value of this.plain) {
          let from = u.text.indexOf(value);
          while (from !== -1) {
            (ranges ??= []).push([u.starts[from], u.ends[from + value.length - 1]]);
            from = u.text.indexOf(value, from + 1);
          }
        }
      }
    }
    if (!ranges) return text;
    ranges.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
    let out = '';
    let cursor = 0;
    let i = 0;
    while (i < ranges.length) {
      const start = ranges[i][0];
      let end = ranges[i][1];
      i++;
      // merge overlapping and touching ranges
      while (i < ranges.length && ranges[i][0] <= end) {
        if (ranges[i][1] > end) end = ranges[i][1];
        i++;
      }
      out += text.slice(cursor, start) + '***';
      cursor = end;
    }
    return out + text.slice(cursor);
  }

  /**
   * Masks every string of a JSON-like value, keys included (a secret used as a map key must not
   * survive in outputs). Arrays and plain objects are copied; numbers, booleans, null and other
   * objects are returned as they are. The input is never modified. Two keys that mask to the
   * same text keep both values (`***`, `*** (2)`).
   */
  maskDeep<T>(value: T): T {
    if (this.needles.length === 0) return value;
    return this.maskValue(value, new Map()) as T;
  }

  private maskValue(value: unknown, seen: Map<object, unknown>): unknown {
    if (typeof value === 'string') return this.mask(value);
    if (value === null || typeof value !== 'object') return value;
    const done = seen.get(value);
    if (done !== undefined) return done;
    if (Array.isArray(value)) {
      const out: unknown[] = [];
      seen.set(value, out);
      for (const v of value) out.push(this.maskValue(v, seen));
      return out;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return value;
    const out: Record<string, unknown> = {};
    seen.set(value, out);
    for (const key of Object.keys(value)) {
      const base = this.mask(key);
      let masked = base;
      for (let n = 2; Object.hasOwn(out, masked); n++) masked = `${base} (${n})`;
      // defineProperty: a key named "__proto__" stays an ordinary own property
      Object.defineProperty(out, masked, {
        value: this.maskValue((value as Record<string, unknown>)[key], seen),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
}

/** Only text with an escape character can hold an escaped form: the literal needles cover the rest. */
const MAY_BE_ESCAPED = /[%\\+]/;
/** Shifted base64 forms shorter than this would mask ordinary words. */
const MIN_SHIFTED_BASE64 = 6;

/** The value and its base64 spellings (base64 cannot be decoded in place: it is searched as is). */
function literalForms(value: string): string[] {
  const forms = new Set<string>([value]);
  const bytes = Buffer.from(value, 'utf8');
  const whole = bytes.toString('base64');
  for (const b64 of [whole, whole.replace(/=+$/, '')]) {
    forms.add(b64);
    forms.add(toBase64Url(b64));
  }
  for (let shift = 0; shift < 3; shift++) {
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    // characters covering only the value's bits: skip those mixing in the prefix or what follows
    const first = Math.ceil((8 * shift) / 6);
    const last = Math.floor((8 * (shift + bytes.length)) / 6);
    const inner = encoded.slice(first, last);
    if (inner.length >= MIN_SHIFTED_BASE64) {
      forms.add(inner);
      forms.add(toBase64Url(inner));
    }
  }
  forms.delete('');
  return [...forms];
}

const JSON_ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
const HEX = /^[0-9a-fA-F]+$/;

/**
 * The text with percent-escapes (runs of `%HH` read as UTF-8), JSON escapes (`\uHHHH`, `\/`,
 * `\"`...) and optionally `+` decoded; `starts[i]`/`ends[i]` give the source span of decoded
 * character i (a multi-byte run maps each of its characters to the whole run). null when there
 * is nothing to decode.
 */
function unescape(text: string, plusIsSpace: boolean): { text: string; starts: number[]; ends: number[] } | null {
  let out = '';
  const starts: number[] = [];
  const ends: number[] = [];
  let changed = false;
  const emit = (chars: string, start: number, end: number) => {
    out += chars;
    for (let k = 0; k < chars.length; k++) {
      starts.push(start);
      ends.push(end);
    }
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '%' && HEX.test(text.slice(i + 1, i + 3)) && i + 2 < text.length) {
      const start = i;
      const bytes: number[] = [];
      while (text[i] === '%' && i + 2 < text.length && HEX.test(text.slice(i + 1, i + 3))) {
        bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
        i += 3;
      }
      emit(Buffer.from(bytes).toString('utf8'), start, i);
      changed = true;
    } else if (c === '\\' && text[i + 1] === 'u' && HEX.test(text.slice(i + 2, i + 6)) && i + 5 < text.length) {
      emit(String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16)), i, i + 6);
      i += 6;
      changed = true;
    } else if (c === '\\' && i + 1 < text.length && JSON_ESCAPES[text[i + 1]] !== undefined) {
      emit(JSON_ESCAPES[text[i + 1]], i, i + 2);
      i += 2;
      changed = true;
    } else if (c === '+' && plusIsSpace) {
      emit(' ', i, i + 1);
      i += 1;
      changed = true;
    } else {
      starts.push(i);
      ends.push(i + 1);
      out += c;
      i += 1;
    }
  }
  return changed ? { text: out, starts, ends } : null;
}

function toBase64Url(b64: string): string {
  return b64.replace(/\+/g, '-').replace(/\//g, '_');
}


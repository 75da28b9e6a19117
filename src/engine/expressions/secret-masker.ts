/**
 * Replaces secret values by `***` in text and in JSON values.
 *
 * - Every non-empty value is masked, however short.
 * - Overlapping or adjacent occurrences of several secrets are merged into a single `***`, so no
 *   fragment of either leaks (`abc` + `bcd` in `xabcdx` gives `x***x`).
 * - For each value, its JSON-escaped form (how it appears inside a serialized JSON string) and its
 *   URL-encoded form (how it appears in a query string) are masked too when they differ.
 */
export class SecretMasker {
  /** the values as added (what `size` counts) */
  private readonly values = new Set<string>();
  /** values and their encoded variants, longest first */
  private needles: string[] = [];

  constructor(values?: Iterable<string>) {
    if (values) for (const v of values) this.add(v);
  }

  get size(): number {
    return this.values.size;
  }

  add(value: string): void {
    if (typeof value !== 'string' || value.length === 0 || this.values.has(value)) return;
    this.values.add(value);
    const variants = new Set<string>([value]);
    const json = JSON.stringify(value).slice(1, -1);
    if (json) variants.add(json);
    try {
      const url = encodeURIComponent(value);
      if (url) variants.add(url);
    } catch {
      // lone surrogates cannot be URL-encoded: nothing to add
    }
    const all = new Set([...this.needles, ...variants]);
    this.needles = [...all].sort((a, b) => b.length - a.length);
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
   * Masks every string leaf of a JSON-like value (arrays and plain objects are copied; object
   * keys are left untouched; numbers, booleans, null and other objects are returned as they are).
   * The input is never modified.
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
      // defineProperty: a key named "__proto__" stays an ordinary own property
      Object.defineProperty(out, key, {
        value: this.maskValue((value as Record<string, unknown>)[key], seen),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
}

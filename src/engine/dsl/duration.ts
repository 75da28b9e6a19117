const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SHORT_FORM = /^(\d+)(ms|s|m|h|d)$/;
// Years and months are left out on purpose: their length in milliseconds depends on the calendar.
const ISO_FORM = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d{1,3})?)S)?)?$/i;

export const DURATION_HINT = "e.g. '500ms', '5s', '2m', '1h', '1d' or ISO-8601 'PT5S', 'PT1H30M', 'P1D'";

/**
 * Parses a duration into milliseconds: `500ms`, `5s`, `2m`, `1h`, `1d`, or ISO-8601 such as
 * `PT5S`, `PT1H30M`, `P1D`, `P2W`, `PT0.5S`. Returns null for anything else (including numbers
 * written as strings without a unit, which would be ambiguous).
 */
export function parseDurationMs(text: string): number | null {
  if (typeof text !== 'string') return null;
  const short = SHORT_FORM.exec(text);
  if (short) return safe(Number(short[1]) * UNIT_MS[short[2]]);

  const iso = ISO_FORM.exec(text);
  if (!iso) return null;
  const [, weeks, days, hours, minutes, seconds] = iso;
  if ([weeks, days, hours, minutes, seconds].every((part) => part === undefined)) return null;
  // "P1DT" has a time designator with nothing after it: invalid in ISO-8601.
  if (/T$/i.test(text)) return null;
  const ms =
    Number(weeks ?? 0) * 7 * UNIT_MS.d +
    Number(days ?? 0) * UNIT_MS.d +
    Number(hours ?? 0) * UNIT_MS.h +
    Number(minutes ?? 0) * UNIT_MS.m +
    Math.round(Number(seconds ?? 0) * 1_000);
  return safe(ms);
}

function safe(ms: number): number | null {
  return Number.isSafeInteger(ms) ? ms : null;
}

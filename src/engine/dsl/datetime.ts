/**
 * Timestamps a client sends (input values, defaults, key expiry, audit filters) must say which
 * instant they mean: an ISO-8601 / RFC 3339 date-time with a zone (`Z` or an offset). Without a
 * zone the same text is a different instant on every server time zone, so it is refused rather
 * than read as UTC or as server-local time.
 */
export const ZONED_DATE_TIME_HINT = 'an ISO-8601 date-time with a time zone, e.g. 2026-01-31T12:00:00Z or 2026-01-31T14:00:00+02:00';

const ZONED_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Epoch milliseconds of a zoned date-time, or null (no zone, bad syntax or out-of-range field). */
export function parseZonedDateTime(text: string): number | null {
  const match = ZONED_DATE_TIME.exec(text);
  if (!match) return null;
  const [, y, mo, d, h, mi, s, fraction, zulu, sign, oh, om] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = s === undefined ? 0 : Number(s);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59) return null;
  let offsetMinutes = 0;
  if (!zulu) {
    if (Number(oh) > 23 || Number(om) > 59) return null;
    offsetMinutes = (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
  }
  const millis = fraction === undefined ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0'));
  return Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000;
}

import { Decimal } from 'decimal.js';
import { ValidationError } from './errors.ts';

/**
 * Traffic and money are decimals: the upstream returns MB, takes GB, and 1 GB = 1024 MB
 * (a fresh 5 TB pool reads 5242880 MB). This is the only place that converts.
 */
export { Decimal };

export const MB_PER_GB = 1024;

const DECIMAL_TEXT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** Reads a number that may arrive as a JSON number or a string (`5242880`, `"0.00"`). */
export function parseDecimal(value: unknown, what = 'value'): Decimal {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ValidationError(`${what} is not a finite number`);
    return new Decimal(value.toString());
  }
  if (typeof value === 'string') {
    const text = value.trim();
    if (DECIMAL_TEXT.test(text)) return new Decimal(text);
  }
  throw new ValidationError(`${what} is not a decimal number: ${JSON.stringify(value)}`);
}

export function mbToGb(mb: Decimal.Value): Decimal {
  return new Decimal(mb).div(MB_PER_GB);
}

export function gbToMb(gb: Decimal.Value): Decimal {
  return new Decimal(gb).mul(MB_PER_GB);
}

/** Sum without binary floating point. */
export function sum(values: Iterable<Decimal.Value>): Decimal {
  let total = new Decimal(0);
  for (const v of values) total = total.plus(v);
  return total;
}

/** GB as the upstream's `trafficCount` expects: plain decimal text, at most 2 places, rounded down. */
export function gbParam(gb: Decimal.Value): string {
  return new Decimal(gb).toDecimalPlaces(2, Decimal.ROUND_DOWN).toFixed();
}

/** For people: "412.5 GB", "0.8 GB", "12,345 GB". */
export function formatGb(gb: Decimal.Value, places = 1): string {
  const d = new Decimal(gb).toDecimalPlaces(places, Decimal.ROUND_HALF_UP);
  const [int, frac] = d.toFixed(places).split('.');
  const grouped = (int ?? '0').replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const trimmed = frac?.replace(/0+$/, '') ?? '';
  return `${grouped}${trimmed ? `.${trimmed}` : ''} GB`;
}

// ---- Dates in the upstream's calendar ---------------------------------------------------

export const DEFAULT_UPSTREAM_ZONE = 'Asia/Shanghai';

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** Throws a clear message when the zone is not an IANA zone this runtime knows. */
export function assertTimeZone(zone: string): void {
  try {
    formatter(zone);
  } catch (cause) {
    throw new ValidationError(`unknown time zone: ${zone}`, { cause });
  }
}

function parts(instant: Date, zone: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of formatter(zone).formatToParts(instant)) out[p.type] = p.value;
  return out;
}

/** The calendar day (`yyyy-MM-dd`) of an instant in the given zone. */
export function dayInZone(instant: Date, zone = DEFAULT_UPSTREAM_ZONE): string {
  const t = instant.getTime();
  if (Number.isNaN(t)) throw new ValidationError('invalid date');
  // The zone's wall clock is UTC shifted by its offset: one formatToParts per zone and minute
  // instead of one per call (the webhook asks once per delivery; bench/hot-path.perf.ts).
  return new Date(t + offsetMsCached(instant, zone)).toISOString().slice(0, 10);
}

const lastOffsets = new Map<string, { minute: number; offset: number }>();

/**
 * offsetMs, remembered per zone for the minute it was asked in: DST and zone-rule changes
 * since standard time zones fall on whole minutes, so within one minute the offset is the
 * same (old local-mean-time changes, before 1900 or so, did not; no payment is dated then).
 */
function offsetMsCached(instant: Date, zone: string): number {
  const minute = Math.floor(instant.getTime() / 60_000);
  const hit = lastOffsets.get(zone);
  if (hit?.minute === minute) return hit.offset;
  const offset = offsetMs(instant, zone);
  lastOffsets.set(zone, { minute, offset });
  return offset;
}

/** Zone offset in milliseconds at an instant (positive east of UTC). */
function offsetMs(instant: Date, zone: string): number {
  const p = parts(instant, zone);
  const asUtc = Date.UTC(
    Number(p.year),
    Number(p.month) - 1,
    Number(p.day),
    Number(p.hour),
    Number(p.minute),
    Number(p.second),
  );
  return asUtc - Math.floor(instant.getTime() / 1000) * 1000;
}

/** Reads the upstream's zone-less `yyyy-MM-dd HH:mm:ss` as a wall time in `zone`. */
export function parseUpstreamDateTime(text: string, zone = DEFAULT_UPSTREAM_ZONE): Date {
  const m = DATE_TIME.exec(text.trim());
  if (!m) throw new ValidationError(`not an upstream date-time (yyyy-MM-dd HH:mm:ss): ${text}`);
  const wall = Date.UTC(
    Number(m[1]),
    Number(m[2]) - 1,
    Number(m[3]),
    Number(m[4]),
    Number(m[5]),
    Number(m[6]),
  );
  // Two passes settle the offset across a DST change; Asia/Shanghai has none.
  let guess = wall - offsetMs(new Date(wall), zone);
  guess = wall - offsetMs(new Date(guess), zone);
  return new Date(guess);
}

/** Validates a `yyyy-MM-dd` day and returns it unchanged. */
export function parseDay(text: string): string {
  const m = DATE.exec(text);
  if (!m) throw new ValidationError(`not a date (yyyy-MM-dd): ${text}`);
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  if (d.toISOString().slice(0, 10) !== text) throw new ValidationError(`not a real date: ${text}`);
  return text;
}

/** Calendar arithmetic on `yyyy-MM-dd` days (zone-free by construction). */
export function addDays(day: string, n: number): string {
  const d = new Date(`${parseDay(day)}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** Days from `from` to `to` inclusive, in order. */
export function daysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  for (let d = parseDay(from); d <= to; d = addDays(d, 1)) out.push(d);
  return out;
}

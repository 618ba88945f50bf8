import { ValidationError } from '../../functions/commons/errors.ts';

/**
 * EventBridge schedule expressions, evaluated in UTC as EventBridge does:
 * `rate(N minute|minutes|hour|hours|day|days)` and
 * `cron(minutes hours day-of-month month day-of-week year)` with `*`, `?`, lists, ranges and
 * steps. `L`, `W` and `#` are not supported here and are refused with a clear message.
 */
export interface Schedule {
  /** The first fire time strictly after `after`. */
  next(after: Date): Date;
}

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const CRON = /^cron\((.+)\)$/;
const UNIT_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

export function parseSchedule(expression: string): Schedule {
  const rate = RATE.exec(expression);
  if (rate) {
    const n = Number(rate[1]);
    const unit = (rate[2] ?? '').replace(/s$/, '') as keyof typeof UNIT_MS;
    if (n < 1) throw new ValidationError(`${expression}: the rate must be at least 1`);
    const period = n * UNIT_MS[unit];
    return { next: (after) => new Date((Math.floor(after.getTime() / period) + 1) * period) };
  }
  const cron = CRON.exec(expression);
  if (cron) return parseCron(expression, (cron[1] ?? '').trim().split(/\s+/));
  throw new ValidationError(`${expression}: not a rate(...) or cron(...) expression`);
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

function field(
  expression: string,
  text: string,
  min: number,
  max: number,
  names: string[] = [],
  nameBase = min,
): Set<number> | null {
  if (text === '*' || text === '?') return null;
  if (/[LW#]/.test(text))
    throw new ValidationError(`${expression}: L, W and # are not supported locally`);
  const value = (t: string): number => {
    const i = names.indexOf(t.toUpperCase());
    const n = i >= 0 ? i + nameBase : Number(t);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new ValidationError(`${expression}: ${t} is out of range ${min}-${max}`);
    }
    return n;
  };
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const [range = '', stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1)
      throw new ValidationError(`${expression}: bad step in ${part}`);
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = min;
      hi = max;
    } else if (range.includes('-')) {
      const [a = '', b = ''] = range.split('-');
      lo = value(a);
      hi = value(b);
    } else {
      lo = value(range);
      hi = stepText === undefined ? lo : max;
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

function parseCron(expression: string, fields: string[]): Schedule {
  if (fields.length !== 6) {
    throw new ValidationError(`${expression}: cron needs 6 fields (min hour dom month dow year)`);
  }
  const [mi = '', ho = '', dom = '', mo = '', dow = '', yr = ''] = fields;
  const minutes = field(expression, mi, 0, 59);
  const hours = field(expression, ho, 0, 23);
  const daysOfMonth = field(expression, dom, 1, 31);
  const months = field(expression, mo, 1, 12, MONTHS, 1);
  // EventBridge numbers days of the week 1-7 from Sunday.
  const daysOfWeek = field(expression, dow, 1, 7, DAYS, 1);
  const years = field(expression, yr, 1970, 2199);
  const ok = (set: Set<number> | null, v: number) => set === null || set.has(v);
  return {
    next(after) {
      const t = new Date(Math.floor(after.getTime() / 60_000) * 60_000 + 60_000);
      // Minute steps over at most ~5 years; schedules here fire at least yearly.
      for (let i = 0; i < 5 * 366 * 24 * 60; i++) {
        if (
          ok(years, t.getUTCFullYear()) &&
          ok(months, t.getUTCMonth() + 1) &&
          ok(daysOfMonth, t.getUTCDate()) &&
          ok(daysOfWeek, t.getUTCDay() + 1) &&
          ok(hours, t.getUTCHours()) &&
          ok(minutes, t.getUTCMinutes())
        ) {
          return t;
        }
        t.setUTCMinutes(t.getUTCMinutes() + 1);
      }
      throw new ValidationError(`${expression}: never fires`);
    },
  };
}

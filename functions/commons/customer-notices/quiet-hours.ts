/** When an SMS may go: from `fromHour` to before `toHour`, local time in `timeZone`. */
export interface SmsWindow {
  fromHour: number;
  toHour: number;
  timeZone: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function wallClock(instant: Date, zone: string) {
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
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(instant)) p[part.type] = Number(part.value);
  return {
    hour: p.hour ?? 0,
    /** The wall-clock time read as if it were UTC, in ms. */
    asUtc: Date.UTC(
      p.year ?? 1970,
      (p.month ?? 1) - 1,
      p.day ?? 1,
      p.hour ?? 0,
      p.minute ?? 0,
      p.second ?? 0,
    ),
  };
}

export function inSmsWindow(now: Date, w: SmsWindow): boolean {
  const { hour } = wallClock(now, w.timeZone);
  return hour >= w.fromHour && hour < w.toHour;
}

/**
 * `now` when inside the window, else the next `fromHour:00` local time (today's if it is
 * still ahead, else tomorrow's). The zone's offset is read at the target itself, so a DST
 * change overnight lands on the local hour, not an hour off.
 */
export function nextSmsTime(now: Date, w: SmsWindow): Date {
  if (inSmsWindow(now, w)) return now;
  const local = wallClock(now, w.timeZone);
  const day = new Date(local.asUtc);
  const targetWall = Date.UTC(
    day.getUTCFullYear(),
    day.getUTCMonth(),
    day.getUTCDate() + (local.hour >= w.fromHour ? 1 : 0),
    w.fromHour,
  );
  let guess = targetWall - (local.asUtc - now.getTime());
  guess = targetWall - (wallClock(new Date(guess), w.timeZone).asUtc - guess);
  return new Date(guess);
}

import { Duration } from 'aws-cdk-lib';

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const CRON = /^cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)$/;
const NUMBER = /^\d+$/;
const STEP = /^(?:\*|0)\/(\d+)$/;
const ANY = new Set(['*', '?']);

/**
 * Longest gap between two runs of a schedule expression (the config schema's `rate(...)` or
 * six-field `cron(...)`), or `undefined` when it runs less often than daily. A cron that fires
 * several times a day at irregular hours is bounded by a day: the window only needs to be
 * long enough that a healthy job is never reported as stopped.
 */
export function scheduleInterval(expression: string): Duration | undefined {
  const rate = RATE.exec(expression);
  if (rate) {
    const n = Number(rate[1]);
    const unit = rate[2] ?? '';
    if (unit.startsWith('minute')) return Duration.minutes(n);
    if (unit.startsWith('hour')) return Duration.hours(n);
    return n === 1 ? Duration.days(1) : undefined;
  }
  const cron = CRON.exec(expression);
  if (!cron) return undefined;
  const [, minute = '', hour = '', dayOfMonth = '', month = '', dayOfWeek = ''] = cron;
  const everyDay = ANY.has(dayOfMonth) && ANY.has(dayOfWeek) && month === '*';
  if (!everyDay) return undefined;
  if (hour === '*') {
    const step = STEP.exec(minute);
    if (step) return Duration.minutes(Number(step[1]));
    return minute === '*' ? Duration.minutes(1) : Duration.hours(1);
  }
  const hourStep = STEP.exec(hour);
  if (hourStep && NUMBER.test(minute)) return Duration.hours(Number(hourStep[1]));
  return Duration.days(1);
}

/**
 * The window over which "no invocation" means the job stopped: two intervals, so one late
 * run does not raise it, at most a day (CloudWatch evaluates at most 24 hours), and a whole
 * number of hours once it exceeds one (CloudWatch's rule for periods of an hour or more).
 */
export function stoppedWindow(interval: Duration): Duration {
  const seconds = Math.min(interval.toSeconds() * 2, Duration.days(1).toSeconds());
  if (seconds < 3600) return Duration.seconds(Math.max(60, seconds));
  return Duration.hours(Math.ceil(seconds / 3600));
}

/**
 * How long a queued invocation stays worth running: until the next scheduled run replaces
 * it, within Lambda's bounds for asynchronous events (1 minute to 6 hours).
 */
export function maxEventAge(interval: Duration | undefined): Duration {
  const seconds = interval?.toSeconds() ?? Duration.hours(6).toSeconds();
  return Duration.seconds(Math.min(Math.max(seconds, 60), Duration.hours(6).toSeconds()));
}

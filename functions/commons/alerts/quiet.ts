import type { MaintenanceWindow } from '../config/alerts.ts';
import { WEEKDAYS } from '../config/weekdays.ts';
import type { PollRuleId, Quieted, RuleId, Silence } from './types.ts';

const POLL_RULES: Record<PollRuleId, true> = {
  'low-residual': true,
  forecast: true,
  'token-rejected': true,
  'data-stale': true,
};

const isPollRule = (rule: RuleId): rule is PollRuleId => Object.hasOwn(POLL_RULES, rule);

/**
 * A silence or window that names no rule covers the poll rules only: money and
 * reconciliation events must be named to be silenced.
 */
function covers(
  rules: readonly RuleId[] | undefined,
  subjects: readonly string[] | undefined,
  rule: RuleId,
  subject: string,
): boolean {
  return (
    (rules ? rules.includes(rule) : isPollRule(rule)) && (!subjects || subjects.includes(subject))
  );
}

function silenceCovers(s: Silence, rule: RuleId, subject: string): boolean {
  return covers(
    s.rule && [s.rule],
    s.subject === undefined ? undefined : [s.subject],
    rule,
    subject,
  );
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Weekday (0 = Monday) and `HH:mm` of an instant in a zone. */
export function localTime(at: Date, timeZone: string): { day: number; time: string } {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, f);
  }
  const parts: Record<string, string> = {};
  for (const p of f.formatToParts(at)) parts[p.type] = p.value;
  const day = WEEKDAYS.indexOf((parts.weekday ?? '').toLowerCase() as (typeof WEEKDAYS)[number]);
  return { day, time: `${parts.hour}:${parts.minute}` };
}

/** Whether a recurring window is open at `at` (its days and times in its own zone). */
export function windowOpen(w: MaintenanceWindow, at: Date): boolean {
  const { day, time } = localTime(at, w.timeZone);
  const on = (d: number) => w.days.includes(WEEKDAYS[(d + 7) % 7] ?? 'mon');
  if (w.start < w.end) return on(day) && time >= w.start && time < w.end;
  // Past midnight: the evening of a listed day, or the early hours after one.
  return (on(day) && time >= w.start) || (on(day - 1) && time < w.end);
}

/** What holds notices back at one instant: the silences in force and the open windows. */
export class Quieting {
  readonly silences: readonly Silence[];
  readonly windows: readonly MaintenanceWindow[];

  constructor(silences: readonly Silence[], windows: readonly MaintenanceWindow[], at: Date) {
    this.silences = silences.filter((s) => s.startsAt <= at && at < s.endsAt);
    this.windows = windows.filter((w) => windowOpen(w, at));
  }

  silenceFor(rule: RuleId, subject: string): Silence | undefined {
    return this.silences.find((s) => silenceCovers(s, rule, subject));
  }

  windowFor(rule: RuleId, subject: string): MaintenanceWindow | undefined {
    return this.windows.find((w) => covers(w.rules, w.subjects, rule, subject));
  }

  why(rule: RuleId, subject: string): Extract<Quieted, 'silenced' | 'maintenance'> | undefined {
    if (this.silenceFor(rule, subject)) return 'silenced';
    if (this.windowFor(rule, subject)) return 'maintenance';
    return undefined;
  }
}

/** Where the silences come from (the SilenceStore). */
export interface SilenceSource {
  active(now: Date): Promise<Silence[]>;
}

export async function quietingAt(
  source: SilenceSource | undefined,
  windows: readonly MaintenanceWindow[],
  at: Date,
): Promise<Quieting> {
  return new Quieting(source ? await source.active(at) : [], windows, at);
}

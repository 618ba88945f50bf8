import type { AlertsConfig } from '../config/alerts.ts';
import { toSmsText, toSnsSubject } from '../notifier/text.ts';
import type { AlertMessage, Notifier } from '../notifier/types.ts';
import { dayInZone } from '../units.ts';
import { ackActive } from './lifecycle.ts';
import { formatDuration, formatTime } from './messages.ts';
import { localTime, type Quieting, quietingAt, type SilenceSource } from './quiet.ts';
import type { DigestClaimStore } from './store/alert-digest.ts';
import type { AlertStateStore } from './store/alert-state.ts';
import { type AlertState, rank, type Silence } from './types.ts';

export interface DigestDeps {
  alerts: Pick<AlertStateStore, 'listOpenAlerts'>;
  claims: Pick<DigestClaimStore, 'claim' | 'release'>;
  silences?: SilenceSource;
  notifier: Notifier;
  clock: () => Date;
  config: Pick<AlertsConfig, 'digest' | 'maintenance'>;
  /** The last day this container saw claimed, so later polls skip the claim write. */
  seen?: { day?: string };
}

export type DigestOutcome =
  | { sent: true; day: string; open: number }
  | { sent: false; reason: 'disabled' | 'not-due' | 'already-sent' };

/** One line per open alert: what, since when, last notified, ack, silence. */
function alertLines(a: AlertState, now: Date, quieting: Quieting): string[] {
  const level = a.flapping ? `FLAPPING (${a.status})` : a.status.toUpperCase();
  const facts = [
    a.openedAt
      ? `open ${formatDuration(now.getTime() - a.openedAt.getTime())} (since ${formatTime(a.openedAt)})`
      : undefined,
    `last notified ${a.lastNotifiedAt ? formatTime(a.lastNotifiedAt) : 'never'}`,
    a.ack && ackActive(a.ack, now)
      ? `acknowledged${a.ack.by ? ` by ${a.ack.by}` : ''}${a.ack.until ? ` until ${formatTime(a.ack.until)}` : ''}`
      : undefined,
    silenceText(quieting.silenceFor(a.rule, a.subject)),
    quieting.windowFor(a.rule, a.subject)
      ? `in maintenance window ${quieting.windowFor(a.rule, a.subject)?.name}`
      : undefined,
    a.heldNotice ? `held notice: ${a.heldNotice} (${a.quieted ?? 'quieted'})` : undefined,
  ].filter((f): f is string => f !== undefined);
  return [
    `- ${level} ${a.rule}/${a.subject}: ${a.summary ?? ''}`.trimEnd(),
    `    ${facts.join('; ')}`,
  ];
}

function silenceText(s: Silence | undefined): string | undefined {
  return s ? `silenced until ${formatTime(s.endsAt)} (${s.id}: ${s.reason})` : undefined;
}

/** The digest: everything open, worst first, and the silences in force. */
export function renderDigest(
  open: readonly AlertState[],
  quieting: Quieting,
  now: Date,
  heading: string,
): AlertMessage {
  const sorted = [...open].sort(
    (a, b) =>
      rank(b.status) - rank(a.status) ||
      `${a.rule}/${a.subject}`.localeCompare(`${b.rule}/${b.subject}`),
  );
  const critical = sorted.filter((a) => a.status === 'critical').length;
  const count = sorted.length
    ? `${sorted.length} open alert${sorted.length === 1 ? '' : 's'}${critical ? ` (${critical} critical)` : ''}`
    : 'nothing open';
  const silences = quieting.silences.map(
    (s) =>
      `- ${s.id}: ${s.rule ?? 'every poll rule'} on ${s.subject ?? 'every subject'} until ${formatTime(s.endsAt)}${s.by ? `, by ${s.by}` : ''}: ${s.reason}`,
  );
  const email = [
    `FlowPilot daily digest, ${heading}: ${count}.`,
    '',
    `Open alerts (${sorted.length}):`,
    ...(sorted.length ? sorted.flatMap((a) => alertLines(a, now, quieting)) : ['(none)']),
    '',
    `Silences in force (${silences.length}):`,
    ...(silences.length ? silences : ['(none)']),
    '',
    'Acknowledge one with `flowpilot alerts ack <rule>/<subject>`; list them with `flowpilot alerts`.',
    '',
    '-- FlowPilot',
  ].join('\n');
  return {
    subject: toSnsSubject(`FlowPilot daily digest: ${count}`),
    email,
    sms: toSmsText(`FlowPilot digest: ${count}.`),
    default: email,
    // Never critical: SMS subscriptions (critical only) do not get it.
    attributes: { severity: 'warning', rule: 'digest', pool: 'none', kind: 'digest' },
  };
}

/**
 * Sends the day's digest once, on the first call at or after `alerts.digest.time` in its
 * zone (poll-totals calls it after every poll). The day is claimed with a conditional
 * write, so concurrent polls send it once; a failed send gives the day back for the next
 * poll. Store and notifier errors propagate.
 */
export async function sendDigestIfDue(deps: DigestDeps): Promise<DigestOutcome> {
  const { digest, maintenance } = deps.config;
  if (!digest.enabled) return { sent: false, reason: 'disabled' };
  const now = deps.clock();
  if (localTime(now, digest.timeZone).time < digest.time) return { sent: false, reason: 'not-due' };
  const day = dayInZone(now, digest.timeZone);
  if (deps.seen?.day === day) return { sent: false, reason: 'already-sent' };
  const claimed = await deps.claims.claim(day, now);
  if (deps.seen) deps.seen.day = day;
  if (!claimed) return { sent: false, reason: 'already-sent' };
  try {
    const [open, quieting] = await Promise.all([
      deps.alerts.listOpenAlerts(),
      quietingAt(deps.silences, maintenance, now),
    ]);
    await deps.notifier.publish(
      renderDigest(open, quieting, now, `${day} ${digest.time} ${digest.timeZone}`),
    );
    return { sent: true, day, open: open.length };
  } catch (err) {
    // Best effort: the send's failure is the news.
    if (deps.seen) deps.seen.day = undefined;
    await deps.claims.release(day).catch(() => undefined);
    throw err;
  }
}

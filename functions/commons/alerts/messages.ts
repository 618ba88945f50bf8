import { toSmsText, toSnsSubject } from '../notifier/text.ts';
import type { AlertMessage } from '../notifier/types.ts';
import type { OpsEventKind } from '../ops-events.ts';
import { Decimal, formatGb, mbToGb } from '../units.ts';
import {
  type AlertFacts,
  type AlertNotice,
  type AlertStatus,
  type PoolFigures,
  type RuleId,
  rank,
  type Severity,
} from './types.ts';

const EVENT_TITLES: Record<OpsEventKind, string> = {
  'topup-failed': 'Top-up failed',
  'deduction-unknown': 'Deduction needs a human',
  'amount-mismatch': 'Amount mismatch',
  'order-held': 'Order held',
  'reconciliation-difference': 'Reconciliation difference',
};

const EVENT_ACTIONS: Record<OpsEventKind, string> = {
  'topup-failed':
    'Check the order with the payment provider and in the Dynamic Traffic console; credit the customer by hand or refund the payment.',
  'deduction-unknown':
    "Check the customer's traffic in the Dynamic Traffic console to see whether the deduction was applied. Do not repeat it blindly: it has no idempotency key.",
  'amount-mismatch':
    'Compare the amount paid with the package price; credit the difference by hand or refund the payment.',
  'order-held': 'Review the held order, then credit it by hand or refund it.',
  'reconciliation-difference':
    "Compare FlowPilot's top-up ledger with the upstream's recharge records for the listed orders and correct the side that is wrong.",
};

// ---- Figures for people ---------------------------------------------------------------------

export function formatTime(at: Date): string {
  return `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** "2.6 days", rounded down: a forecast should not promise more than it knows. */
export function formatDays(days: Decimal): string {
  if (days.gt(999)) return '999+ days';
  return `${days.toDecimalPlaces(1, Decimal.ROUND_DOWN).toFixed(1)} days`;
}

export function formatPercent(percent: Decimal): string {
  return `${percent.toDecimalPlaces(1).toFixed()}%`;
}

const formatMbAsGb = (mb: Decimal) => formatGb(mbToGb(mb));
const formatBurn = (mb: Decimal) => `${formatMbAsGb(mb)}/day`;

export function formatDuration(ms: number): string {
  const minutes = Math.max(0, Math.round(ms / 60_000));
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  if (d > 0) return h > 0 ? `${d} d ${h} h` : `${d} d`;
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`;
  return `${m} min`;
}

/** Days left as one figure, or a range when the two burns disagree. */
function daysText(f: PoolFigures): string | undefined {
  const texts = [f.daysLeftLastDay, f.daysLeftSevenDay]
    .filter((d): d is Decimal => d !== undefined)
    .sort((a, b) => a.comparedTo(b))
    .map(formatDays);
  const [low, high] = texts;
  if (!low) return undefined;
  if (!high || high === low) return low;
  return `${low.replace(' days', '')}-${high}`;
}

/** The burn that the shortest forecast comes from. */
function burnText(f: PoolFigures): string | undefined {
  const burns = [f.burn.lastDayMb, f.burn.sevenDayAvgMb].filter(
    (b): b is Decimal => b?.gt(0) === true,
  );
  const highest = burns.sort((a, b) => b.comparedTo(a))[0];
  return highest ? formatBurn(highest) : undefined;
}

/** "refilled +500 GB at 2026-11-20 10:04 UTC", from the pool ledger. */
const refillText = (f: PoolFigures) =>
  f.refill
    ? `refilled +${formatMbAsGb(f.refill.addedMb)} at ${formatTime(f.refill.at)}`
    : undefined;

const residualText = (f: PoolFigures) =>
  f.residualPercent
    ? `${formatMbAsGb(f.residualMb)} (${formatPercent(f.residualPercent)})`
    : formatMbAsGb(f.residualMb);

const clip = (text: string, max: number) =>
  text.length <= max ? text : `${text.slice(0, max - 3)}...`;

// ---- Titles -----------------------------------------------------------------------------------

/** One line saying what the alert is about in its current status (also the stored summary). */
export function alertTitle(
  rule: RuleId,
  subject: string,
  status: AlertStatus,
  facts: AlertFacts,
): string {
  const open = status !== 'ok';
  switch (facts.type) {
    case 'pool': {
      const f = facts.figures;
      if (facts.rule === 'low-residual') {
        const refill = refillText(f);
        if (!open && refill) return `${f.pool} pool ${refill}: ${residualText(f)}`;
        return open
          ? `${f.pool} pool low: ${residualText(f)} left`
          : `${f.pool} pool residual ok: ${residualText(f)}`;
      }
      const days = daysText(f) ?? 'unknown';
      return open
        ? `${f.pool} pool runs out in ${days}`
        : `${f.pool} pool forecast ok: ${days} left`;
    }
    case 'token':
      return open ? 'Upstream rejected the API token' : 'Upstream accepts the API token again';
    case 'stale':
      return open
        ? `Traffic figures stale: ${facts.consecutiveFailures} failed polls`
        : 'Traffic figures fresh again';
    case 'event': {
      const title = EVENT_TITLES[facts.event.kind] ?? rule;
      return open ? `${title}: ${subject}` : `${title} resolved: ${subject}`;
    }
  }
}

function label(notice: AlertNotice): string {
  const level = notice.status.toUpperCase();
  if (notice.kind === 'resolved') return 'RESOLVED';
  if (notice.kind === 'reminder') return `REMINDER ${level}`;
  if (notice.kind === 'flapping') return 'FLAPPING';
  if (notice.kind === 'settled') return `SETTLED ${level}`;
  return level;
}

// ---- SMS --------------------------------------------------------------------------------------

function smsBody(notice: AlertNotice): string {
  const open = notice.status !== 'ok';
  const facts = notice.facts;
  switch (facts.type) {
    case 'pool': {
      const f = facts.figures;
      const days = daysText(f);
      const burn = burnText(f);
      const runway = days && burn ? `, ${days} at ${burn}` : '';
      if (facts.rule === 'low-residual') {
        return open
          ? `${f.pool} pool ${residualText(f)} left${runway}. Top up now.`
          : `${f.pool} pool ${refillText(f) ?? 'back'} to ${residualText(f)}.`;
      }
      return open
        ? `${f.pool} pool runs out in ${days ?? 'unknown'}${burn ? ` at ${burn}` : ''}, ${residualText(f)} left. Top up.`
        : `${f.pool} pool forecast ok, ${days ?? 'no burn'} left.`;
    }
    case 'token':
      return open
        ? 'upstream rejected the API token; no figures are read. Replace IPWEB_TOKEN.'
        : 'upstream accepts the API token again.';
    case 'stale': {
      const last = facts.lastSuccessAt ? `, last good ${formatTime(facts.lastSuccessAt)}` : '';
      return open
        ? `no fresh traffic figures: ${facts.consecutiveFailures} failed polls${last}.`
        : `traffic figures fresh again${last}.`;
    }
    case 'event': {
      // Room for the summary even when the subject (an order key) is long.
      const title = EVENT_TITLES[facts.event.kind];
      const subject = clip(notice.subject, 40);
      return open ? `${title} ${subject}: ${facts.event.summary}` : `${title} ${subject} resolved.`;
    }
  }
}

// ---- Email ------------------------------------------------------------------------------------

function statusLine(notice: AlertNotice): string {
  const { kind, status, previous, openedAt, at } = notice;
  const since = openedAt ? ` since ${formatTime(openedAt)}` : '';
  const lasted = openedAt ? ` after ${formatDuration(at.getTime() - openedAt.getTime())}` : '';
  switch (kind) {
    case 'opened':
      return `New alert: ${status}.`;
    case 'escalated':
      return `Escalated from ${previous} to ${status}${since}.`;
    case 'eased':
      return `Eased from ${previous} to ${status}; still open${since}.`;
    case 'reminder':
      return `Reminder: still ${status}${since}${openedAt ? ` (${formatDuration(at.getTime() - openedAt.getTime())})` : ''}.`;
    case 'resolved':
      return `Resolved: back to ok${lasted}.`;
    case 'flapping': {
      const f = notice.flap;
      const restless = f ? `${f.changes} status changes in the last ${f.polls} polls` : 'restless';
      const until = f ? ` it holds one status for ${f.stablePolls} polls` : ' it is stable';
      return `Flapping: ${restless}, now ${status}. No further notices about it until${until}.`;
    }
    case 'settled': {
      const held = notice.flap ? ` (held for ${notice.flap.stablePolls} polls)` : '';
      return `Settled at ${status} after flapping${held}; notices resume.`;
    }
  }
}

function levelsText(levels: { warning: number; critical: number; unit: string }[]): string {
  const at = (which: 'warning' | 'critical') =>
    levels.map((l) => (l.unit === '%' ? `${l[which]}%` : `${l[which]} ${l.unit}`)).join(' or ');
  return `Levels: warning below ${at('warning')}; critical below ${at('critical')}.`;
}

function factsBlock(notice: AlertNotice): string[] {
  const facts = notice.facts;
  switch (facts.type) {
    case 'pool': {
      const f = facts.figures;
      const recharged = f.residualPercent ? ` of ${formatMbAsGb(f.rechargedMb)} recharged` : '';
      const pct = f.residualPercent ? ` (${formatPercent(f.residualPercent)}${recharged})` : '';
      const burns = [
        f.burn.lastDayMb ? `${formatBurn(f.burn.lastDayMb)} over the last day` : undefined,
        f.burn.sevenDayAvgMb
          ? `${formatBurn(f.burn.sevenDayAvgMb)} on average over 7 days`
          : undefined,
      ].filter(Boolean);
      const days = [
        f.daysLeftLastDay ? `${formatDays(f.daysLeftLastDay)} at the last day's burn` : undefined,
        f.daysLeftSevenDay ? `${formatDays(f.daysLeftSevenDay)} at the 7-day average` : undefined,
      ].filter(Boolean);
      const refill = refillText(f);
      return [
        ...(refill ? [`The ${f.pool} pool was ${refill}.`] : []),
        `Figures for the ${f.pool} pool, read ${formatTime(f.at)}:`,
        `  Residual:   ${formatMbAsGb(f.residualMb)}${pct}`,
        `  Consumed:   ${formatMbAsGb(f.consumedMb)}`,
        `  Burn:       ${burns.length ? burns.join(', ') : 'unknown'}`,
        `  Days left:  ${days.length ? days.join(', ') : 'unknown (no burn figures)'}`,
        levelsText(facts.levels),
      ];
    }
    case 'token':
      return notice.status === 'ok'
        ? [`Figures read again at ${formatTime(facts.at)}.`]
        : [
            `Upstream answer at ${formatTime(facts.at)}: ${facts.message}`,
            'While the token is rejected no figures are read, so no low-balance alert can fire.',
          ];
    case 'stale': {
      const lines = [
        `Failed polls in a row: ${facts.consecutiveFailures} (alert at ${facts.failedPolls})`,
        `Last good figures: ${facts.lastSuccessAt ? formatTime(facts.lastSuccessAt) : 'none yet'} (alert when older than ${facts.maxAgeMinutes} minutes)`,
      ];
      const failure = facts.lastFailure;
      if (failure) {
        lines.push(
          `Last failure (${failure.reason}) at ${formatTime(failure.at)}: ${failure.message}`,
        );
      }
      return lines;
    }
    case 'event': {
      const e = facts.event;
      return [e.summary, ...Object.entries(e.details).map(([k, v]) => `  ${k}: ${v}`)];
    }
  }
}

function action(notice: AlertNotice): string {
  if (notice.status === 'ok') return 'Nothing to do; this alert is closed.';
  const facts = notice.facts;
  switch (facts.type) {
    case 'pool':
      return facts.rule === 'low-residual'
        ? `Top up the ${facts.figures.pool} pool with Dynamic Traffic before it runs out: customers' proxies stop when it reaches zero.`
        : `At this burn rate the ${facts.figures.pool} pool runs out soon. Top up, or find the customers whose daily usage rose.`;
    case 'token':
      return 'Issue a new access token in the Dynamic Traffic console and store it in the IPWEB_TOKEN secret; polling resumes with the next run.';
    case 'stale':
      return 'Check the poll-totals logs and whether the Dynamic Traffic API is reachable. Low-balance alerts cannot fire while figures are stale.';
    case 'event':
      return EVENT_ACTIONS[facts.event.kind];
  }
}

function severityOf(notice: AlertNotice): Severity {
  // Resolved and eased go to whoever heard the worse level (SMS subscribers get critical).
  const worse = rank(notice.previous) > rank(notice.status) ? notice.previous : notice.status;
  return worse === 'ok' ? 'warning' : worse;
}

/** Every text of a notification, each within its channel's limits. */
export function renderMessage(notice: AlertNotice): AlertMessage {
  const title = alertTitle(notice.rule, notice.subject, notice.status, notice.facts);
  const heading = `${label(notice)}: ${title}`;
  const email = [
    heading,
    '',
    statusLine(notice),
    `Rule: ${notice.rule}, subject: ${notice.subject}, at ${formatTime(notice.at)}.`,
    '',
    ...factsBlock(notice),
    '',
    `What to do: ${action(notice)}`,
    '',
    '-- FlowPilot',
  ].join('\n');
  const sms =
    notice.kind === 'flapping'
      ? `${title}; held until stable ${notice.flap?.stablePolls ?? ''} polls.`
      : smsBody(notice);
  return {
    subject: toSnsSubject(`FlowPilot ${heading}`),
    email,
    sms: toSmsText(`FlowPilot ${label(notice)}: ${sms}`),
    default: email,
    attributes: {
      severity: severityOf(notice),
      rule: notice.rule,
      pool: notice.facts.type === 'pool' ? notice.facts.figures.pool : 'none',
      kind: notice.kind,
    },
  };
}

/**
 * Several notices about one subject from one evaluation as one message: one SMS naming every
 * rule, at the highest severity among them, and one email with each alert's own section.
 */
export function renderGroup(notices: readonly AlertNotice[]): AlertMessage {
  const ordered = [...notices].sort(
    (a, b) => rank(severityOf(b)) - rank(severityOf(a)) || a.rule.localeCompare(b.rule),
  );
  const parts = ordered.map(renderMessage);
  const [first] = ordered;
  const [lead] = parts;
  if (!first || !lead) throw new Error('renderGroup needs at least one notice');
  const severity = ordered.some((n) => severityOf(n) === 'critical') ? 'critical' : 'warning';
  const level = severity.toUpperCase();
  const rules = ordered.map((n) => n.rule);
  const titles = ordered.map(
    (n) => `${label(n)} ${alertTitle(n.rule, n.subject, n.status, n.facts)}`,
  );
  const email = [
    `${level}: ${ordered.length} alerts about ${first.subject} at once`,
    '',
    ...titles.map((t) => `- ${t}`),
    '',
    ...parts
      .map((p) => p.email.replace(/\n-- FlowPilot$/, '').trimEnd())
      .join('\n\n----\n\n')
      .split('\n'),
    '',
    '-- FlowPilot',
  ].join('\n');
  return {
    subject: toSnsSubject(`FlowPilot ${level}: ${titles.join('; ')}`),
    email,
    sms: toSmsText(`FlowPilot ${level} ${rules.join('+')}: ${smsBody(first)}`),
    default: email,
    attributes: {
      severity,
      rule: rules.join(','),
      pool: lead.attributes.pool,
      kind: [...new Set(ordered.map((n) => n.kind))].join(','),
    },
  };
}

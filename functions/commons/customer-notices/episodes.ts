import type { RunningLowThresholds } from '../config/customer-notices.ts';
import type { BalanceChange, CustomerBalance, CustomerCredit } from '../customers/types.ts';
import { Decimal, gbToMb } from '../units.ts';
import type { ThresholdOverrides } from './store/customer-contacts.ts';
import type { NoticeLevel, NoticeState } from './store/customer-notice-state.ts';
import type { NoticeKind } from './store/notice-outbox.ts';

/** A credit older than this when first seen is history (a backfill): no receipt for it. */
export const RECEIPT_MAX_AGE_MS = 48 * 3600_000;

export type LowReason = 'gb' | 'percent' | 'days';

export interface NoticeIntent {
  kind: NoticeKind;
  noticeId: string;
  episode?: number;
  credit?: CustomerCredit;
  reasons?: LowReason[];
}

export interface EpisodeDecision {
  next: NoticeState;
  /** False when nothing is to be saved (same level, no notice). */
  changed: boolean;
  notices: NoticeIntent[];
}

/** The configured triggers with the customer's own overrides applied. */
export function thresholdsFor(
  defaults: RunningLowThresholds,
  overrides: ThresholdOverrides | undefined,
): RunningLowThresholds {
  return { ...defaults, ...overrides };
}

/** The running-low triggers that hold, with every level scaled by `factor` (hysteresis). */
export function lowReasons(b: CustomerBalance, t: RunningLowThresholds, factor = 1): LowReason[] {
  const balance = new Decimal(b.balanceMb);
  const out: LowReason[] = [];
  if (t.gb > 0 && balance.lt(gbToMb(t.gb).mul(factor))) out.push('gb');
  if (t.percentOfLastTopUp > 0 && b.lastCreditMb !== null) {
    const level = new Decimal(b.lastCreditMb).mul(t.percentOfLastTopUp).div(100).mul(factor);
    if (level.gt(0) && balance.lt(level)) out.push('percent');
  }
  if (t.daysLeft > 0 && b.daysLeft !== null && b.daysLeft < t.daysLeft * factor) out.push('days');
  return out;
}

const creditKey = (c: CustomerCredit) => c.orderId ?? `${c.at}/${c.mb}`;

/**
 * One customer's next notice state and the notices it calls for. Each episode (running low,
 * used up) is notified once when it opens. A top-up sends a receipt per credit and closes the
 * episode at once; a balance still low after it opens a quiet episode (the receipt gave the
 * new balance), so no running-low or used-up notice follows a top-up. A running-low episode
 * ends without a top-up only once every trigger is cleared by the hysteresis, so a deployment
 * or a backfill does not notify everyone about the past. A customer with no state is ok; one the balance poll
 * computes for the first time (no `before`) starts quietly at the level it is at.
 */
export function decideNotices(
  current: NoticeState | undefined,
  change: BalanceChange,
  t: RunningLowThresholds,
  hysteresisPercent: number,
  now: Date,
): EpisodeDecision {
  const b = change.after;
  const since = now.toISOString();
  // Not a balance until calibrated: it neither opens nor ends an episode; receipts still go.
  if (b.uncalibrated) return uncalibrated(current, change, now);
  const reading = readBalance(b, t, hysteresisPercent);
  if (!current && change.before === undefined) return firstSeen(b.customerId, reading.level, since);
  const from = current ?? { customerId: b.customerId, level: 'ok', episode: 0, since, version: 0 };
  const { level, episode, notices } = nextEpisode(from, change, reading, now);
  const changed = level !== from.level || episode !== from.episode || notices.length > 0;
  const next: NoticeState = {
    customerId: b.customerId,
    level,
    episode,
    since: level === from.level ? from.since : since,
    version: from.version + 1,
  };
  return { next: changed ? next : from, changed, notices };
}

/** What the balance says against the triggers. */
interface Reading {
  empty: boolean;
  /** The running-low triggers that hold. */
  low: LowReason[];
  /** Some trigger still holds with the hysteresis margin added. */
  lowWithHysteresis: boolean;
  level: NoticeLevel;
}

function readBalance(b: CustomerBalance, t: RunningLowThresholds, hysteresisPercent: number) {
  const empty = new Decimal(b.balanceMb).lte(0);
  const low = lowReasons(b, t);
  const lowWithHysteresis = lowReasons(b, t, 1 + hysteresisPercent / 100).length > 0;
  const level: NoticeLevel = empty ? 'empty' : low.length > 0 ? 'low' : 'ok';
  return { empty, low, lowWithHysteresis, level } satisfies Reading;
}

/** A receipt per credit of this change, unless the credit is history (a backfill). */
function receipts(change: BalanceChange, now: Date): NoticeIntent[] {
  return change.credits
    .filter((c) => now.getTime() - Date.parse(c.at) <= RECEIPT_MAX_AGE_MS)
    .map((credit) => ({ kind: 'topped-up', noticeId: `topped-up#${creditKey(credit)}`, credit }));
}

function uncalibrated(
  current: NoticeState | undefined,
  change: BalanceChange,
  now: Date,
): EpisodeDecision {
  const base = current ?? {
    customerId: change.after.customerId,
    level: 'ok',
    episode: 0,
    since: now.toISOString(),
    version: 0,
  };
  const notices = change.before === undefined ? [] : receipts(change, now);
  return notices.length === 0
    ? { next: base, changed: false, notices }
    : { next: { ...base, version: base.version + 1 }, changed: true, notices };
}

/** A customer the balance poll computes for the first time starts quietly where it is. */
function firstSeen(customerId: string, level: NoticeLevel, since: string): EpisodeDecision {
  const next = { customerId, level, episode: level === 'ok' ? 0 : 1, since, version: 1 };
  // No state is the same as ok: only a customer first seen low or used up needs a write.
  return { next, changed: level !== 'ok', notices: [] };
}

/** The episode after this change, and the notices it opens with. */
function nextEpisode(
  from: NoticeState,
  change: BalanceChange,
  reading: Reading,
  now: Date,
): { level: NoticeLevel; episode: number; notices: NoticeIntent[] } {
  let { level, episode } = from;
  const notices: NoticeIntent[] = [];
  const open = (to: NoticeLevel, notify: boolean) => {
    level = to;
    episode += 1;
    if (notify) notices.push(episodeNotice(to, episode, reading.low));
  };
  if (change.credits.length > 0) {
    if (change.before !== undefined) notices.push(...receipts(change, now));
    if (reading.level === 'ok') level = 'ok';
    else open(reading.level, false);
  } else if (reading.empty) {
    if (level !== 'empty') open('empty', true);
  } else if (level === 'empty') {
    // Above zero without a top-up (a correction): the used-up episode said enough.
    level = reading.lowWithHysteresis ? 'low' : 'ok';
  } else if (reading.low.length > 0) {
    if (level === 'ok') open('low', true);
  } else if (level === 'low' && !reading.lowWithHysteresis) {
    level = 'ok';
  }
  return { level, episode, notices };
}

function episodeNotice(to: NoticeLevel, episode: number, low: LowReason[]): NoticeIntent {
  return to === 'empty'
    ? { kind: 'used-up', noticeId: `used-up#${episode}`, episode }
    : { kind: 'running-low', noticeId: `running-low#${episode}`, episode, reasons: low };
}

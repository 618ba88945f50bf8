import type { RunningLowThresholds } from '../config/customer-notices.ts';
import type { BalanceChange, CustomerBalance, CustomerCredit } from '../customers/types.ts';
import type { ThresholdOverrides } from '../store/customer-contacts.ts';
import type { NoticeLevel, NoticeState } from '../store/customer-notice-state.ts';
import type { NoticeKind } from '../store/notice-outbox.ts';
import { Decimal, gbToMb } from '../units.ts';

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
  const empty = new Decimal(b.balanceMb).lte(0);
  const low = lowReasons(b, t);
  const lowWithHysteresis = lowReasons(b, t, 1 + hysteresisPercent / 100).length > 0;
  const levelNow: NoticeLevel = empty ? 'empty' : low.length > 0 ? 'low' : 'ok';
  const since = now.toISOString();
  const fresh = change.credits.filter(
    (c) => now.getTime() - Date.parse(c.at) <= RECEIPT_MAX_AGE_MS,
  );
  const receipts = (): NoticeIntent[] =>
    fresh.map((credit) => ({
      kind: 'topped-up',
      noticeId: `topped-up#${creditKey(credit)}`,
      credit,
    }));

  // Not a balance until calibrated: it neither opens nor ends an episode; receipts still go.
  if (b.uncalibrated) {
    const base = current ?? {
      customerId: b.customerId,
      level: 'ok',
      episode: 0,
      since,
      version: 0,
    };
    const notices = change.before === undefined ? [] : receipts();
    return notices.length === 0
      ? { next: base, changed: false, notices }
      : { next: { ...base, version: base.version + 1 }, changed: true, notices };
  }

  if (!current && change.before === undefined) {
    const next = {
      customerId: b.customerId,
      level: levelNow,
      episode: levelNow === 'ok' ? 0 : 1,
      since,
      version: 1,
    };
    // No state is the same as ok: only a customer first seen low or used up needs a write.
    return { next, changed: levelNow !== 'ok', notices: [] };
  }
  current ??= { customerId: b.customerId, level: 'ok', episode: 0, since, version: 0 };

  let level = current.level;
  let episode = current.episode;
  const notices: NoticeIntent[] = [];
  const open = (to: NoticeLevel, notify: boolean) => {
    level = to;
    episode += 1;
    if (!notify) return;
    notices.push(
      to === 'empty'
        ? { kind: 'used-up', noticeId: `used-up#${episode}`, episode }
        : { kind: 'running-low', noticeId: `running-low#${episode}`, episode, reasons: low },
    );
  };

  if (change.credits.length > 0) {
    if (change.before !== undefined) notices.push(...receipts());
    if (levelNow === 'ok') level = 'ok';
    else open(levelNow, false);
  } else if (empty) {
    if (level !== 'empty') open('empty', true);
  } else if (level === 'empty') {
    // Above zero without a top-up (a correction): the used-up episode said enough.
    level = lowWithHysteresis ? 'low' : 'ok';
  } else if (low.length > 0) {
    if (level === 'ok') open('low', true);
  } else if (level === 'low' && !lowWithHysteresis) {
    level = 'ok';
  }

  const changed = level !== current.level || episode !== current.episode || notices.length > 0;
  const next: NoticeState = {
    customerId: b.customerId,
    level,
    episode,
    since: level === current.level ? current.since : since,
    version: current.version + 1,
  };
  return { next: changed ? next : current, changed, notices };
}

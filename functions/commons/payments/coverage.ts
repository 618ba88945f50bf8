import { Decimal } from '../units.ts';
import { gbToDeduct } from './catalog.ts';
import type {
  FailedRefund,
  Order,
  PartInput,
  PendingEntry,
  RefundCounters,
} from './ledger/ledger.ts';
import type { PartReason } from './reasons.ts';
import type { PaymentRef } from './types.ts';

/**
 * How refunds and disputes cover an order: the one computation behind a deduction, a
 * reversal and a credit reduced by refunds that arrived before the payment was known.
 */

export const NO_REFUNDS: RefundCounters = {
  refundedMinor: 0,
  deductedMinor: 0,
  deductedGb: '0',
  disputedMinor: 0,
};

/**
 * Whether refunds and disputes move the order's counters: a credited order, and one refunded
 * or disputed in full before it was known (its counters hold all of it, so a failed refund
 * or a won dispute gives its GB back like any other).
 */
export const countsRefunds = (order: Pick<Order, 'state' | 'reason'>): boolean =>
  order.state === 'CREDITED' || (order.state === 'REJECTED' && order.reason === 'refunded');

/** The key pending refunds are recorded under: what the provider's refund event names. */
export const refKey = (ref: PaymentRef): string =>
  'paymentIntentId' in ref ? `pi:${ref.paymentIntentId}` : `pay:${ref.paymentId}`;

/** The reference a provider's refunds use for this order (Stripe: its PaymentIntent). */
export const orderRef = (order: Pick<Order, 'paymentId' | 'paymentIntentId'>): PaymentRef =>
  order.paymentIntentId
    ? { paymentIntentId: order.paymentIntentId }
    : { paymentId: order.paymentId };

/**
 * Whether a cumulative refunded total created at `t` (epoch seconds) counted a refund that
 * later failed: created by then and not failed yet (`yes`). Stripe stamps whole seconds: a
 * total of the very second of the failure may be from either side of it (`same-second`).
 */
function counts(f: FailedRefund, t: number): 'yes' | 'no' | 'same-second' {
  if (f.created !== undefined && f.created > t) return 'no';
  return t < f.at ? 'yes' : t === f.at ? 'same-second' : 'no';
}

/**
 * What a cumulative refunded total created at `t` stands for once the refunds it counted
 * that failed since are taken out: the refunds FlowPilot deducts for. A failure of the
 * total's own second is taken as counted only when the total can hold it (a total of 3 $
 * never counted a refund of 4 $; otherwise a refund failing at once is the likelier).
 */
export function standingRefunds(
  total: number,
  t: number | undefined,
  failed: readonly FailedRefund[] = [],
): number {
  if (t === undefined) return total;
  let gone = 0;
  for (const f of failed) if (counts(f, t) === 'yes') gone += f.minor;
  const ambiguous = failed.filter((f) => counts(f, t) === 'same-second').map((f) => f.minor);
  return Math.max(0, total - gone - mostWithin(ambiguous, total - gone));
}

/**
 * The largest sum of some of `amounts` that is at most `room`: the same-second failures a
 * total counted, taken as many as it can hold (whatever order they arrived in). A handful
 * at most, so every subset is tried; more than 10, the largest first.
 */
function mostWithin(amounts: readonly number[], room: number): number {
  if (amounts.length > 10) {
    let sum = 0;
    for (const a of [...amounts].sort((x, y) => y - x)) if (sum + a <= room) sum += a;
    return sum;
  }
  let best = 0;
  for (let mask = 1; mask < 1 << amounts.length; mask++) {
    const sum = amounts.reduce((s, a, i) => (mask & (1 << i) ? s + a : s), 0);
    if (sum <= room && sum > best) best = sum;
  }
  return best;
}

/**
 * What a failed refund takes off the refunds the order counts: what the total the order holds
 * stands for less once the failure is known (a failure created before that total, or after a
 * total that did not count it yet, takes nothing: a later total is worked out without it).
 * Orders from before the total was kept: its amount when that total counted it.
 */
export function failedRefundMinor(
  order: Pick<Order, 'refundedMinor' | 'refundedAt' | 'refundedTotalMinor' | 'failedRefunds'>,
  f: FailedRefund,
): number {
  const { refundedAt, refundedTotalMinor: total } = order;
  if (refundedAt !== undefined && total !== undefined) {
    const after = standingRefunds(total, refundedAt, [...(order.failedRefunds ?? []), f]);
    return Math.max(0, order.refundedMinor - after);
  }
  const held = refundedAt === undefined ? undefined : counts(f, refundedAt);
  const counted =
    held === undefined
      ? order.refundedMinor > 0
      : held === 'yes' || (held === 'same-second' && order.refundedMinor >= f.minor);
  return counted ? Math.min(f.minor, order.refundedMinor) : 0;
}

export interface Share {
  /** Minor units this refund or dispute newly covers (≤ 0: nothing new). */
  newMinor: number;
  /** GB to take for it. */
  gb: Decimal;
  next: RefundCounters;
}

/** Disputed minor units not returned; old orders kept none: what refunds do not explain. */
export const disputedOf = (order: RefundCounters): number =>
  order.disputedMinor ?? Math.max(0, order.deductedMinor - order.refundedMinor);

/**
 * A refund (`minor`: the cumulative refunded total) or dispute (`minor`: its amount) against
 * an order paid `paidMinor` for `gb` GB. What is covered is min(paid, refunded + disputed):
 * GB × covered fraction, rounded down to 0.01 GB, computed on cumulative totals so that
 * parts add up to exactly the order's GB.
 */
export function shareOf(
  order: { gb: string; paidMinor: number } & RefundCounters,
  ev: { kind: 'refund' | 'dispute'; minor: number; created?: number; total?: number },
): Share {
  const newMinor = ev.kind === 'refund' ? ev.minor - order.refundedMinor : ev.minor;
  const newer = ev.created !== undefined && newMinor > 0;
  const refundedAt = newer ? ev.created : order.refundedAt;
  const later = {
    ...(refundedAt === undefined ? {} : { refundedAt }),
    ...(newer && ev.total !== undefined ? { refundedTotalMinor: ev.total } : {}),
  };
  const refunded = Math.max(order.refundedMinor, ev.kind === 'refund' ? ev.minor : 0);
  const disputed = disputedOf(order) + (ev.kind === 'dispute' ? Math.max(0, ev.minor) : 0);
  const covered = Math.min(order.paidMinor, Math.max(order.deductedMinor, refunded + disputed));
  const target = gbToDeduct(order.gb, covered, order.paidMinor);
  const already = new Decimal(order.deductedGb);
  return {
    newMinor,
    gb: Decimal.max(0, target.minus(already)),
    next: {
      refundedMinor: refunded,
      deductedMinor: covered,
      deductedGb: Decimal.max(target, already).toFixed(),
      disputedMinor: disputed,
      ...later,
    },
  };
}

export interface GiveBack {
  /** Minor units no longer covered. */
  minor: number;
  /** GB to credit back. */
  gb: Decimal;
  next: RefundCounters;
}

/**
 * Money back to the shop: refunds no longer standing (`minor` of them: a failed refund the
 * order's total counted, or a newer lower total: `lowered`) or a dispute closed
 * with `minor` reinstated. What stays covered is min(paid, refunded + disputed) after it; the
 * GB above that come back. A lost dispute gives nothing back (Stripe returns only a refunded
 * part, which the refund already took); its counters still follow Stripe's books.
 */
export function giveBackOf(
  order: { gb: string; paidMinor: number } & RefundCounters,
  ev: {
    kind: 'refund-failed' | 'dispute-won';
    minor: number;
    lost?: boolean;
    /** A newer lower total: when it was created and what it reported. */
    lowered?: { at: number; total: number };
  },
): GiveBack {
  const refunded =
    ev.kind === 'refund-failed' ? Math.max(0, order.refundedMinor - ev.minor) : order.refundedMinor;
  const disputed =
    ev.kind === 'dispute-won' ? Math.max(0, disputedOf(order) - ev.minor) : disputedOf(order);
  const covered = ev.lost
    ? order.deductedMinor
    : Math.min(order.deductedMinor, order.paidMinor, refunded + disputed);
  const target = gbToDeduct(order.gb, covered, order.paidMinor);
  const already = new Decimal(order.deductedGb);
  return {
    minor: order.deductedMinor - covered,
    gb: ev.lost ? new Decimal(0) : Decimal.max(0, already.minus(target)),
    next: {
      refundedMinor: refunded,
      deductedMinor: covered,
      deductedGb: Decimal.min(target, already).toFixed(),
      disputedMinor: disputed,
      ...(ev.lowered !== undefined
        ? { refundedAt: ev.lowered.at, refundedTotalMinor: ev.lowered.total }
        : {
            ...(order.refundedAt === undefined ? {} : { refundedAt: order.refundedAt }),
            ...(order.refundedTotalMinor === undefined
              ? {}
              : { refundedTotalMinor: order.refundedTotalMinor }),
          }),
    },
  };
}

/** Where an entry sorts: refunds and failed refunds in time, then disputes, then their ends. */
const RANK: Record<PendingEntry['kind'], number> = {
  refund: 0,
  'refund-failed': 0,
  dispute: 1,
  'dispute-won': 2,
};

function byArrival(a: PendingEntry, b: PendingEntry): number {
  if (RANK[a.kind] !== RANK[b.kind]) return RANK[a.kind] - RANK[b.kind];
  if (RANK[a.kind] === 0) {
    // Cumulative refund totals in the order Stripe created them; a failure after its refund.
    const t = (a.eventCreated ?? 0) - (b.eventCreated ?? 0);
    if (t !== 0) return t;
    if (a.kind !== b.kind) return a.kind === 'refund' ? -1 : 1;
    return a.minor - b.minor;
  }
  return a.at.localeCompare(b.at);
}

/** Pending entries in the order they must be applied. */
export const inArrivalOrder = (entries: readonly PendingEntry[]): PendingEntry[] =>
  [...entries].sort(byArrival);

type FoldMode = 'before-credit' | 'not-credited';

/** What folding pending entries into an order carries from one entry to the next. */
interface Fold {
  order: { gb: string; paidMinor: number; currency: string; customerId?: string };
  mode: FoldMode;
  counters: RefundCounters;
  refundsResetAt: number | undefined;
  failed: FailedRefund[];
  /** Disputes folded so far by part id: what a won one may give back. */
  disputes: Map<string, number>;
  parts: PartInput[];
}

/**
 * Refunds, disputes and their reversals recorded before their order existed, as parts of it.
 * `before-credit`: their GB are kept off the credit (the counters say how much);
 * `not-credited`: the order will not be credited (held, rejected), so they only stand on
 * record.
 */
export function foldPending(
  order: Fold['order'],
  entries: readonly PendingEntry[],
  mode: FoldMode,
): {
  parts: PartInput[];
  counters: RefundCounters;
  refundsResetAt?: number;
  failedRefunds?: FailedRefund[];
} {
  // The common case (no refund came first): nothing to sort or fold.
  if (entries.length === 0) return { parts: [], counters: NO_REFUNDS };
  const fold: Fold = {
    order,
    mode,
    counters: NO_REFUNDS,
    refundsResetAt: undefined,
    failed: [],
    disputes: new Map(),
    parts: [],
  };
  for (const e of inArrivalOrder(entries)) foldEntry(fold, e);
  const { refundsResetAt, failed } = fold;
  return {
    parts: fold.parts,
    counters: mode === 'not-credited' ? NO_REFUNDS : fold.counters,
    ...(refundsResetAt === undefined ? {} : { refundsResetAt }),
    ...(failed.length === 0 ? {} : { failedRefunds: failed }),
  };
}

function foldEntry(fold: Fold, e: PendingEntry): void {
  const kind = e.kind;
  if (e.currency !== fold.order.currency) {
    skip(fold, e, 'currency-mismatch');
    return;
  }
  if (kind === 'refund-failed' || kind === 'dispute-won') {
    foldReversal(fold, e, kind);
    return;
  }
  // A refunded total stands for what it counts less the refunds failed since.
  const standing =
    kind === 'refund' ? { ...e, minor: standingRefunds(e.minor, e.eventCreated, fold.failed) } : e;
  const lowered = loweredAt(fold, standing);
  if (lowered !== undefined) {
    foldLowered(fold, standing, lowered, e.minor);
    return;
  }
  foldDeduction(fold, standing, kind, e.minor);
}

/** Records an entry as a SKIPPED part of the order: `reason` says why, or the fold's mode. */
function skip(fold: Fold, e: PendingEntry, reason: PartReason, minor = 0, gb = '0'): void {
  const kind = e.kind;
  const base: Pick<PartInput, 'partId' | 'kind' | 'customerId'> = {
    partId: e.partId,
    kind: kind === 'refund-failed' || kind === 'dispute-won' ? 'reversal' : kind,
  };
  if (fold.order.customerId) base.customerId = fold.order.customerId;
  fold.parts.push({ ...base, state: 'SKIPPED', gb, minor, reason });
}

/** A give-back folded: before the credit it lowers the counters (and gives its GB back). */
function givenBack(fold: Fold, e: PendingEntry, back: GiveBack): void {
  if (fold.mode === 'before-credit') fold.counters = back.next;
  skip(fold, e, fold.mode, back.minor, fold.mode === 'before-credit' ? back.gb.toFixed() : '0');
}

function foldReversal(fold: Fold, e: PendingEntry, kind: 'refund-failed' | 'dispute-won'): void {
  const disputed = kind === 'dispute-won' ? fold.disputes.get(e.disputePartId ?? '') : undefined;
  if (kind === 'dispute-won' && disputed === undefined) {
    skip(fold, e, 'no-dispute');
    return;
  }
  const failure = kind === 'refund-failed' ? failedRefundOf(e) : undefined;
  const minor =
    disputed !== undefined
      ? Math.min(e.minor, disputed)
      : failure
        ? failedRefundMinor({ ...fold.counters, failedRefunds: fold.failed }, failure)
        : Math.min(e.minor, fold.counters.refundedMinor);
  const back = giveBackOf(
    { ...fold.order, ...fold.counters },
    { kind, minor, ...(e.disputeLost ? { lost: true } : {}) },
  );
  if (failure) {
    fold.failed.push(failure);
    fold.refundsResetAt = Math.max(fold.refundsResetAt ?? 0, failure.at);
  }
  givenBack(fold, e, back);
}

/** A failed refund as its order keeps it; undefined when the provider gave no times. */
export function failedRefundOf(
  e: Pick<PendingEntry, 'minor' | 'eventCreated' | 'refundCreated'>,
): FailedRefund | undefined {
  if (e.eventCreated === undefined) return undefined;
  return {
    minor: e.minor,
    at: e.eventCreated,
    ...(e.refundCreated === undefined ? {} : { created: e.refundCreated }),
  };
}

/** When a refund names a newer, lower refunded total than folded so far: its creation time. */
function loweredAt(fold: Fold, e: PendingEntry): number | undefined {
  const { counters } = fold;
  const lowered =
    e.kind === 'refund' &&
    e.eventCreated !== undefined &&
    counters.refundedAt !== undefined &&
    e.eventCreated > counters.refundedAt &&
    e.minor < counters.refundedMinor;
  return lowered ? e.eventCreated : undefined;
}

/** A newer, lower refunded total: a refund failed in between (as deduct.ts reads it). */
function foldLowered(fold: Fold, e: PendingEntry, created: number, total: number): void {
  const { counters } = fold;
  const back = giveBackOf(
    { ...fold.order, ...counters },
    {
      kind: 'refund-failed',
      minor: counters.refundedMinor - e.minor,
      lowered: { at: created, total },
    },
  );
  fold.refundsResetAt = Math.max(fold.refundsResetAt ?? 0, created);
  givenBack(fold, e, back);
}

function foldDeduction(
  fold: Fold,
  e: PendingEntry,
  kind: 'refund' | 'dispute',
  total: number,
): void {
  const share = shareOf(
    { ...fold.order, ...fold.counters },
    {
      kind,
      minor: e.minor,
      total,
      ...(e.eventCreated === undefined ? {} : { created: e.eventCreated }),
    },
  );
  if (kind === 'dispute') fold.disputes.set(e.partId, e.minor);
  if (share.newMinor <= 0) {
    // A newer total of the same standing refunds: later failures are judged against it.
    const t = e.eventCreated;
    if (kind === 'refund' && share.newMinor === 0 && t !== undefined) {
      if (t > (fold.counters.refundedAt ?? 0)) {
        fold.counters = { ...fold.counters, refundedAt: t, refundedTotalMinor: total };
      }
    }
    skip(fold, e, 'already-covered');
    return;
  }
  if (fold.mode === 'not-credited') {
    fold.counters = { ...fold.counters, refundedMinor: share.next.refundedMinor };
    skip(fold, e, fold.mode, share.newMinor);
    return;
  }
  fold.counters = share.next;
  skip(fold, e, fold.mode, share.newMinor, share.gb.toFixed());
}

import type { Order, PartInput, PendingEntry, RefundCounters } from '../store/ledger.ts';
import { Decimal } from '../units.ts';
import { gbToDeduct } from './catalog.ts';
import type { PaymentRef } from './types.ts';

/**
 * How refunds and disputes cover an order: the one computation behind a deduction, a
 * reversal and a credit reduced by refunds that arrived before the payment was known.
 */

export const NO_REFUNDS: RefundCounters = { refundedMinor: 0, deductedMinor: 0, deductedGb: '0' };

/** The key pending refunds are recorded under: what the provider's refund event names. */
export const refKey = (ref: PaymentRef): string =>
  'paymentIntentId' in ref ? `pi:${ref.paymentIntentId}` : `pay:${ref.paymentId}`;

/** The reference a provider's refunds use for this order (Stripe: its PaymentIntent). */
export const orderRef = (order: Pick<Order, 'paymentId' | 'paymentIntentId'>): PaymentRef =>
  order.paymentIntentId
    ? { paymentIntentId: order.paymentIntentId }
    : { paymentId: order.paymentId };

export interface Share {
  /** Minor units this refund or dispute newly covers (≤ 0: nothing new). */
  newMinor: number;
  /** GB to take for it. */
  gb: Decimal;
  next: RefundCounters;
}

/**
 * A refund (`minor`: the cumulative refunded total) or dispute (`minor`: its amount) against
 * an order paid `paidMinor` for `gb` GB: GB × covered fraction, rounded down to 0.01 GB,
 * computed on cumulative totals so that parts add up to exactly the order's GB.
 */
export function shareOf(
  order: { gb: string; paidMinor: number } & RefundCounters,
  ev: { kind: 'refund' | 'dispute'; minor: number },
): Share {
  const newMinor = ev.kind === 'refund' ? ev.minor - order.refundedMinor : ev.minor;
  const covered = Math.min(order.paidMinor, order.deductedMinor + Math.max(0, newMinor));
  const target = gbToDeduct(order.gb, covered, order.paidMinor);
  const already = new Decimal(order.deductedGb);
  return {
    newMinor,
    gb: Decimal.max(0, target.minus(already)),
    next: {
      refundedMinor:
        ev.kind === 'refund' ? Math.max(ev.minor, order.refundedMinor) : order.refundedMinor,
      deductedMinor: covered,
      deductedGb: Decimal.max(target, already).toFixed(),
    },
  };
}

/**
 * Refunds and disputes recorded before their order existed, as parts of it. `before-credit`:
 * their GB are kept off the credit (the counters say how much); `not-credited`: the order
 * will not be credited (held, rejected), so they only stand on record.
 */
export function foldPending(
  order: { gb: string; paidMinor: number; currency: string; customerId?: string },
  entries: readonly PendingEntry[],
  mode: 'before-credit' | 'not-credited',
): { parts: PartInput[]; counters: RefundCounters } {
  // The common case (no refund came first): nothing to sort or fold.
  if (entries.length === 0) return { parts: [], counters: NO_REFUNDS };
  // Cumulative refund totals in rising order, then disputes as they came.
  const sorted = [...entries].sort((a, b) => {
    if (a.kind !== b.kind) return a.kind === 'refund' ? -1 : 1;
    return a.kind === 'refund' ? a.minor - b.minor : a.at.localeCompare(b.at);
  });
  let counters = NO_REFUNDS;
  const parts: PartInput[] = [];
  for (const e of sorted) {
    const base = {
      partId: e.partId,
      kind: e.kind,
      ...(order.customerId ? { customerId: order.customerId } : {}),
    };
    if (e.currency !== order.currency) {
      parts.push({ ...base, state: 'SKIPPED', gb: '0', minor: 0, reason: 'currency-mismatch' });
      continue;
    }
    const share = shareOf({ ...order, ...counters }, e);
    if (share.newMinor <= 0) {
      parts.push({ ...base, state: 'SKIPPED', gb: '0', minor: 0, reason: 'already-covered' });
      continue;
    }
    if (mode === 'not-credited') {
      counters = { ...counters, refundedMinor: share.next.refundedMinor };
      parts.push({ ...base, state: 'SKIPPED', gb: '0', minor: share.newMinor, reason: mode });
      continue;
    }
    counters = share.next;
    parts.push({
      ...base,
      state: 'SKIPPED',
      gb: share.gb.toFixed(),
      minor: share.newMinor,
      reason: mode,
    });
  }
  return { parts, counters: mode === 'not-credited' ? NO_REFUNDS : counters };
}

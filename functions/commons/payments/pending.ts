import { inArrivalOrder, orderRef, refKey } from './coverage.ts';
import { deductForRefund } from './deduct.ts';
import type { Order, PendingEntry } from './ledger/ledger.ts';
import { reverseDeduction } from './reverse.ts';
import type {
  DisputeEvent,
  PaymentDeps,
  PaymentRef,
  ProviderId,
  RefundEvent,
  ReversalEvent,
} from './types.ts';

/** The event a pending entry was recorded from. */
function eventOf(e: PendingEntry, ref: PaymentRef): RefundEvent | DisputeEvent | ReversalEvent {
  const created = e.eventCreated === undefined ? {} : { eventCreated: e.eventCreated };
  switch (e.kind) {
    case 'refund':
      return {
        type: 'refund',
        ref,
        partId: e.partId,
        refundedMinor: e.minor,
        currency: e.currency,
        ...created,
      };
    case 'dispute':
      return { type: 'dispute', ref, partId: e.partId, amountMinor: e.minor, currency: e.currency };
    default:
      return {
        type: 'reversal',
        kind: e.kind,
        ref,
        partId: e.partId,
        amountMinor: e.minor,
        currency: e.currency,
        ...created,
        ...(e.disputePartId === undefined ? {} : { disputePartId: e.disputePartId }),
        ...(e.disputeLost ? { disputeLost: true } : {}),
        ...(e.refundCreated === undefined ? {} : { refundCreated: e.refundCreated }),
      };
  }
}

/**
 * After a credit: the refunds, disputes and reversals recorded while it was under way are
 * applied now, in the order they must be, each through the same claim as a delivery of its
 * own (so a redelivery meanwhile applies nothing twice), and forgotten once settled. Called
 * by whoever finished the credit.
 */
export async function applyPendingRefunds(
  provider: ProviderId,
  order: Pick<Order, 'provider' | 'paymentId' | 'paymentIntentId'>,
  deps: PaymentDeps,
  signal?: AbortSignal,
): Promise<string[]> {
  const ref = orderRef(order);
  const pending = await deps.ledger.getPending(order.provider, refKey(ref));
  const results: string[] = [];
  const done: string[] = [];
  const opts = signal ? { signal } : {};
  for (const e of inArrivalOrder(pending.entries)) {
    const ev = eventOf(e, ref);
    const out =
      ev.type === 'reversal'
        ? await reverseDeduction(provider, ev, deps, opts)
        : await deductForRefund(provider, ev, deps, opts);
    results.push(out.result);
    if (out.statusCode < 300) done.push(e.partId);
  }
  await deps.ledger.clearPending(order.provider, refKey(ref), done, deps.clock());
  return results;
}

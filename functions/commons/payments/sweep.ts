import { logger } from '../logger.ts';
import type { OpsEvent, OpsEventSink } from '../ops-events.ts';
import type { DynamicTrafficApi } from '../upstream/types.ts';
import { raiseAlert } from './alerts.ts';
import { alertNeedsHuman, markAbandoned, partFacts } from './deduct.ts';
import type { Ledger, Order } from './ledger/ledger.ts';
import type { LedgerReader } from './ledger/ledger-read.ts';
import { alertGiveBack, recredit } from './reverse.ts';
import { alertOrder, facts, orderSubject } from './topup.ts';

/** Parts looked at per sweep; more wait for the next one (they are alerted either way). */
const SWEEP_LIMIT = 500;
/**
 * Orders whose state changed within this are re-alerted: enough for any lost alert to be
 * raised again, while the read stays small and an upgrade does not alert years of old orders.
 */
const ORDERS_LOOK_BACK_MS = 7 * 86_400_000;

export interface SweepDeps {
  ledger: Pick<
    Ledger,
    'settleDeduction' | 'settleReversal' | 'markAlerted' | 'markOrderAlerted' | 'listParts'
  >;
  reader: Pick<LedgerReader, 'partsInState' | 'partsNotAlerted' | 'ordersNotAlerted'>;
  upstream: Pick<DynamicTrafficApi, 'rechargeTrafficCount'>;
  sink: OpsEventSink;
  clock: () => Date;
  /** `payments.leaseSeconds`: no delivery can still be calling after it. */
  leaseSeconds: number;
}

/**
 * Deduction parts left DEDUCTING by a delivery that died (its claim written, `deductionFlow`
 * perhaps called, the answer never recorded) are marked UNKNOWN and alerted, as the lost
 * answer of a live delivery is. Reversals left RECREDITING (a re-credit that failed or died,
 * perhaps never redelivered) are credited again, which the upstream applies once per
 * orderId, and alerted while they stay stuck. Parts handed to a person (UNKNOWN, FAILED)
 * whose alert is not noted as sent (the notifier lost it, or the process died between the
 * two) are alerted again, and so are paid orders left uncredited for a person (HELD,
 * FAILED_PERMANENT, REJECTED): redeliveries answer those from their state without alerting.
 * Run by every totals poll, so no part stays DEDUCTING or RECREDITING unseen longer than the
 * lease plus one poll interval, and neither a part nor an order is a person's without an alert.
 */
export async function sweepStuckDeductions(deps: SweepDeps): Promise<{
  marked: number;
  recredited: number;
  stuck: number;
  realerted: number;
  ordersRealerted: number;
}> {
  const now = deps.clock();
  const stale = (updatedAt: string) =>
    now.getTime() - Date.parse(updatedAt) > deps.leaseSeconds * 1000;
  let marked = 0;
  for (const part of await deps.reader.partsInState('DEDUCTING', SWEEP_LIMIT)) {
    if (!stale(part.updatedAt)) continue;
    if (await markAbandoned(deps, part.order, part, now)) marked += 1;
  }
  if (marked > 0) logger.warn('deductions left DEDUCTING marked UNKNOWN', { marked });
  let recredited = 0;
  let stuck = 0;
  for (const part of await deps.reader.partsInState('RECREDITING', SWEEP_LIMIT)) {
    if (!stale(part.updatedAt)) continue;
    const out = await recredit(deps, part.order, part);
    if (out.statusCode < 300) {
      recredited += 1;
      continue;
    }
    stuck += 1;
    await raiseAlert(deps.sink, {
      kind: 'topup-failed',
      severity: 'critical',
      subject: `reversal:${part.order.provider}:${part.order.paymentId}:${part.partId}`,
      summary: `Giving back ${part.gb} GB to customer ${part.customerId ?? '?'} is still not done since ${part.updatedAt}; the next poll tries again`,
      details: { ...partFacts(part.order, part), since: part.updatedAt },
    });
  }
  if (recredited + stuck > 0) logger.warn('reversals left RECREDITING', { recredited, stuck });
  let realerted = 0;
  for (const part of await deps.reader.partsNotAlerted(SWEEP_LIMIT)) {
    // A live delivery may be between marking the part and alerting: give it the lease.
    if (!stale(part.updatedAt)) continue;
    realerted += 1;
    if (part.kind === 'reversal') {
      await alertGiveBack(deps, part.order, part, '', now);
    } else {
      const state = part.state === 'FAILED' ? 'FAILED' : 'UNKNOWN';
      await alertNeedsHuman(deps, part.order, part, state, part.error ?? 'unknown', now);
    }
  }
  if (realerted > 0) logger.warn('parts for a person alerted again', { realerted });
  let ordersRealerted = 0;
  const since = new Date(now.getTime() - ORDERS_LOOK_BACK_MS);
  for (const order of await deps.reader.ordersNotAlerted(since, SWEEP_LIMIT)) {
    // The delivery that recorded it may still be about to alert: give it the lease.
    if (!stale(order.updatedAt)) continue;
    ordersRealerted += 1;
    await alertOrder(deps, order, notCreditedAlert(order), now);
  }
  if (ordersRealerted > 0) logger.warn('orders for a person alerted again', { ordersRealerted });
  return { marked, recredited, stuck, realerted, ordersRealerted };
}

/** The alert of an order recorded without a credit, rebuilt from what the ledger holds. */
function notCreditedAlert(order: Order): OpsEvent {
  const reason = order.reason ?? 'unknown';
  const held = order.state === 'HELD';
  return {
    kind: held ? 'order-held' : reason === 'amount-mismatch' ? 'amount-mismatch' : 'topup-failed',
    severity: 'warning',
    subject: orderSubject(order),
    summary: held
      ? `Order held for review (${reason}) since ${order.updatedAt}`
      : `Paid order not credited (${order.state}, ${reason}) since ${order.updatedAt}`,
    details: facts(order, { state: order.state, reason }),
  };
}

import { logger } from '../logger.ts';
import type { OpsEventSink } from '../ops-events.ts';
import { Decimal } from '../units.ts';
import { UpstreamRejectedError } from '../upstream/errors.ts';
import type { DynamicTrafficApi } from '../upstream/types.ts';
import { raiseAlert } from './alerts.ts';
import { deriveOrderId } from './catalog.ts';
import {
  countsRefunds,
  failedRefundMinor,
  failedRefundOf,
  type GiveBack,
  giveBackOf,
  standingRefunds,
} from './coverage.ts';
import {
  CREDITING_RETRY_AFTER,
  findOrder,
  markAbandoned,
  noteAlerted,
  partFacts,
  paymentUnknown,
  recordPending,
} from './deduct.ts';
import type { DeductionPart, Ledger, Order, OrderKey, PartInput } from './ledger/ledger.ts';
import type { Outcome, PaymentDeps, ProviderId, ReversalEvent } from './types.ts';

const ROUNDS = 3;
const TRANSIENT_RETRY_AFTER = 5;

const ok = (result: string): Outcome => ({ statusCode: 200, result });

/** Why a reversal was recorded UNKNOWN for a person: the money came back from which event. */
const UNSURE_REASON = {
  refund: 'refund-deduction-unsure',
  dispute: 'dispute-deduction-unsure',
} as const;

/**
 * Traffic given back when the money comes back: a dispute closed with funds reinstated
 * (`charge.dispute.funds_reinstated`) or a refund that failed gives back the GB its money no
 * longer covers (`giveBackOf`: what stays covered is min(paid, refunded + disputed)).
 * Exactly once: the reversal is a part of the order claimed with the order's counters, and
 * the re-credit is a `rechargeTrafficCount` with an `orderId` of its own, which the upstream
 * applies at most once however often a redelivery (or a crash) repeats the call. A reversal
 * for a payment not known yet, or still being credited, is kept pending like a refund and
 * applied with it.
 */
export async function reverseDeduction(
  provider: ProviderId,
  ev: ReversalEvent,
  deps: PaymentDeps,
  opts: { signal?: AbortSignal } = {},
): Promise<Outcome> {
  for (let round = 0; round < ROUNDS; round++) {
    const out = await reverseOnce(provider, ev, deps, opts.signal);
    if (out !== 'retry') return out;
  }
  return { statusCode: 409, result: 'in-progress', retryAfterSeconds: 1 };
}

/** One round: `retry` when a write lost a race and the order must be read again. */
async function reverseOnce(
  provider: ProviderId,
  ev: ReversalEvent,
  deps: PaymentDeps,
  signal: AbortSignal | undefined,
): Promise<Outcome | 'retry'> {
  const order = await findOrder(provider, ev, deps);
  if (!order && ev.kind === 'dispute-won') return waitForDispute();
  if (!order) {
    if (!(await recordPending(provider, ev, deps, paymentUnknown(provider, ev.ref))))
      return 'retry';
    logger.info('reversal recorded before its payment', { provider, partId: ev.partId });
    return ok('recorded-before-payment');
  }
  const key: OrderKey = { provider: order.provider, paymentId: order.paymentId };
  if (order.state === 'CREDITING' || order.state === 'RECEIVED') {
    if (!(await recordPending(provider, ev, deps, { orderCrediting: key }))) return 'retry';
    return {
      statusCode: 409,
      result: 'in-progress',
      retryAfterSeconds: CREDITING_RETRY_AFTER,
    };
  }
  if (!countsRefunds(order) || order.currency !== ev.currency) {
    logger.info('reversal with nothing to give back', { provider, partId: ev.partId });
    return ok('nothing-to-give-back');
  }
  const existing = await deps.ledger.getPart(key, ev.partId);
  if (existing) {
    if (existing.state === 'UNKNOWN') return giveBackToAPerson(deps, key, existing, ev);
    return existing.state === 'RECREDITING'
      ? recredit(deps, key, existing, signal)
      : ok('already-given-back');
  }
  const minor = await minorToGiveBack(ev, order, deps);
  if (minor === 'no-dispute') return waitForDispute();
  if (minor === 'retry') return 'retry';
  if (typeof minor === 'object' && 'inProgress' in minor) return inFlight(minor.inProgress);
  const unsure = typeof minor === 'object' ? minor.unsure : undefined;
  const minorBack = typeof minor === 'object' ? minor.minor : minor;
  return claimReversal(provider, ev, deps, order, minorBack, unsure, signal);
}

/**
 * Claims the reversal as a part of the order with the counters it leaves, then re-credits
 * its GB (or, unsure whether the dispute's deduction landed, hands it to a person).
 */
async function claimReversal(
  provider: ProviderId,
  ev: ReversalEvent,
  deps: PaymentDeps,
  order: Order,
  minorBack: number,
  unsure: boolean | undefined,
  signal: AbortSignal | undefined,
): Promise<Outcome | 'retry'> {
  const key: OrderKey = { provider: order.provider, paymentId: order.paymentId };
  // A failed refund is kept on the order even when it takes nothing now: a total that
  // counted it may come later.
  const failure =
    ev.kind === 'refund-failed' && !ev.lowered
      ? failedRefundOf({ ...ev, minor: ev.amountMinor })
      : undefined;
  if (minorBack <= 0 && !failure) return ok('nothing-to-give-back');
  const back = giveBackOf(
    { ...order, gb: order.gb ?? '0', paidMinor: order.amountMinor ?? 0 },
    {
      kind: ev.kind,
      minor: minorBack,
      ...(ev.disputeLost ? { lost: true } : {}),
      ...(ev.lowered ? { lowered: { at: ev.lowered.at, total: ev.lowered.totalMinor } } : {}),
    },
  );
  const part = reversalPart(provider, ev, order, back, unsure);
  // From now on each refunded total reported is a part of its own (`<part>@<created>`).
  const resetAt = failure?.at ?? ev.lowered?.at;
  const res = await deps.ledger.claimDeduction({
    key,
    part,
    expect: {
      refundedMinor: order.refundedMinor,
      deductedMinor: order.deductedMinor,
      version: order.version ?? 0,
    },
    next: {
      ...back.next,
      ...(resetAt === undefined
        ? {}
        : { refundsResetAt: Math.max(order.refundsResetAt ?? 0, resetAt) }),
      ...(failure ? { failedRefunds: [...(order.failedRefunds ?? []), failure] } : {}),
    },
    now: deps.clock(),
  });
  if (res.outcome === 'part-exists') {
    return res.part.state === 'UNKNOWN'
      ? giveBackToAPerson(deps, key, res.part, ev)
      : ok('already-given-back');
  }
  if (res.outcome !== 'claimed') return 'retry';
  if (back.gb.isZero()) {
    return ok(
      ev.disputeLost ? 'dispute-lost' : minorBack > 0 ? 'given-back' : 'nothing-to-give-back',
    );
  }
  if (unsure) return giveBackToAPerson(deps, key, part, ev);
  return recredit(deps, key, part, signal);
}

function reversalPart(
  provider: ProviderId,
  ev: ReversalEvent,
  order: Order,
  back: GiveBack,
  unsure: boolean | undefined,
): PartInput {
  return {
    partId: ev.partId,
    kind: 'reversal',
    // Money back over a deduction that may not have landed: a person gives back.
    state: unsure && back.gb.gt(0) ? 'UNKNOWN' : back.gb.gt(0) ? 'RECREDITING' : 'RECREDITED',
    ...(unsure && back.gb.gt(0)
      ? { reason: UNSURE_REASON[ev.kind === 'refund-failed' ? 'refund' : 'dispute'] }
      : {}),
    gb: back.gb.toFixed(),
    minor: back.minor,
    orderId: deriveOrderId(provider, `${order.paymentId}#${ev.partId}`),
    ...(order.customerId ? { customerId: order.customerId } : {}),
  };
}

/**
 * Funds reinstated for a dispute whose own event has not come yet (or whose payment is not
 * known): nothing to give back from yet, so the provider is asked to retry (Stripe does for
 * three days) rather than told it is done.
 */
function waitForDispute(): Outcome {
  return {
    statusCode: 409,
    result: 'waiting-for-dispute',
    retryAfterSeconds: TRANSIENT_RETRY_AFTER,
  };
}

/** The first delivery of the dispute may still be calling `deductionFlow`: come back later. */
function inFlight(seconds: number): Outcome {
  return {
    statusCode: 409,
    result: 'in-progress',
    retryAfterSeconds: Math.max(1, Math.ceil(seconds)),
  };
}

/**
 * A reversal recorded UNKNOWN: Stripe returned the dispute's funds, but whether its deduction
 * landed is unknown (`deductionFlow` has no key to ask by), so neither crediting back (maybe
 * more than paid) nor keeping the GB (maybe the customer's) is safe. The person alerted for
 * the deduction decides, told what to credit back and the orderId that makes it once.
 * Alerted again by every redelivery, so a delivery that died after the claim is no silence.
 */
async function giveBackToAPerson(
  deps: PaymentDeps,
  key: OrderKey,
  part: Pick<DeductionPart, 'partId' | 'kind' | 'gb' | 'customerId' | 'orderId' | 'reason'>,
  ev: ReversalEvent,
): Promise<Outcome> {
  await alertGiveBack(deps, key, part, ev.disputePartId ?? '', deps.clock());
  return ok('needs-a-person');
}

/**
 * The critical alert for a give-back left to a person; then noted. It names the deductions in
 * doubt: once each is settled as its own alert says (taken, by FlowPilot or by hand), this
 * give-back's GB are right to credit, whichever deduction this money came back for, and
 * several give-backs of one order add up.
 */
export async function alertGiveBack(
  deps: { ledger: Pick<Ledger, 'markAlerted' | 'listParts'>; sink: OpsEventSink },
  key: OrderKey,
  part: Pick<DeductionPart, 'partId' | 'kind' | 'gb' | 'customerId' | 'orderId' | 'reason'>,
  disputePartId: string,
  now: Date,
): Promise<void> {
  const check = (await deps.ledger.listParts(key))
    .filter((p) => p.kind !== 'reversal' && (p.state === 'UNKNOWN' || p.state === 'FAILED'))
    .map((p) => `${p.partId} (${p.state === 'FAILED' ? 'refused' : 'outcome unknown'}, ${p.gb} GB)`)
    .join(', ');
  logger.error('give-back needs a person', { ...partFacts(key, part), dispute: disputePartId });
  const customer = part.customerId ?? '?';
  const why =
    part.reason === UNSURE_REASON.refund
      ? `A refund of customer ${customer} failed`
      : `Dispute of customer ${customer} closed with funds reinstated`;
  const raised = await raiseAlert(deps.sink, {
    kind: 'deduction-unknown',
    severity: 'critical',
    subject: `reversal:${key.provider}:${key.paymentId}:${part.partId}`,
    summary: `${why}, but deduction ${check || '(none left)'} of this order is in doubt, so FlowPilot gave nothing back. Settle each as its own alert says (taken, by FlowPilot or by hand), then credit ${part.gb} GB back to customer ${customer} (orderId ${part.orderId ?? '?'})`,
    details: {
      ...partFacts(key, part),
      upstreamOrderId: part.orderId ?? '',
      disputePartId,
      check,
    },
  });
  if (raised) await noteAlerted(deps, key, part.partId, now);
}

/**
 * Minor units the reversal returns: the failed refund's amount, or what a dispute had taken
 * and Stripe reinstated. A dispute surely taken (deducted, or kept off the credit) is given
 * back; one whose deduction is unknown or refused is a person's (`unsure`), and one left
 * DEDUCTING past the lease by a dead delivery is marked UNKNOWN first, as the sweep would.
 */
async function minorToGiveBack(
  ev: ReversalEvent,
  order: Order,
  deps: PaymentDeps,
): Promise<
  number | 'no-dispute' | 'retry' | { inProgress: number } | { minor: number; unsure: true }
> {
  const key: OrderKey = { provider: order.provider, paymentId: order.paymentId };
  // A refund deduction whose outcome is unknown (or refused) is already a person's: giving
  // back by the counters, which count it as taken, could return traffic never taken.
  const parts = await deps.ledger.listParts(key);
  const refundUnsure = parts.some(
    (p) => p.kind === 'refund' && (p.state === 'UNKNOWN' || p.state === 'FAILED'),
  );
  // The counters already count a refund deduction still DEDUCTING: wait for it, or once a
  // dead delivery left it past the lease, hand it to a person like an UNKNOWN one.
  const deducting = parts.find((p) => p.kind === 'refund' && p.state === 'DEDUCTING');
  if (deducting) return waitOrAbandon(deps, key, deducting);
  if (ev.kind === 'refund-failed') {
    // Over an unsure deduction the counters still go back (a later refund is then deducted),
    // while the GB are a person's to give back or not: a dispute's too, since the GB a refund
    // covered may be ones only that dispute's deduction took.
    const unsure = parts.some(
      (p) => p.kind !== 'reversal' && (p.state === 'UNKNOWN' || p.state === 'FAILED'),
    );
    const minor = refundsNoLongerStanding(ev, order);
    return unsure && minor > 0 ? { minor, unsure: true } : minor;
  }
  const dispute = parts.find((p) => p.partId === ev.disputePartId);
  if (ev.disputePartId && !dispute) return 'no-dispute';
  if (dispute?.state === 'DEDUCTING') return waitOrAbandon(deps, key, dispute);
  if (dispute?.state === 'UNKNOWN' || dispute?.state === 'FAILED') {
    return { minor: Math.min(ev.amountMinor, dispute.minor), unsure: true };
  }
  const taken =
    dispute?.state === 'DEDUCTED' ||
    (dispute?.state === 'SKIPPED' && dispute.reason === 'before-credit');
  if (!taken) return 0;
  const minor = Math.min(ev.amountMinor, dispute.minor);
  return refundUnsure ? { minor, unsure: true } : minor;
}

/**
 * What a failed refund (or a newer lower total) takes off the refunds the order counts, on
 * the order as read now: the failure only when the total held counted it; a lowered total
 * what it no longer stands for (nothing once a newer total was counted).
 */
function refundsNoLongerStanding(ev: ReversalEvent, order: Order): number {
  const { lowered } = ev;
  if (lowered) {
    if (order.refundedAt !== undefined && lowered.at < order.refundedAt) return 0;
    return Math.max(
      0,
      order.refundedMinor - standingRefunds(lowered.totalMinor, lowered.at, order.failedRefunds),
    );
  }
  const failure = failedRefundOf({ ...ev, minor: ev.amountMinor });
  return failure
    ? failedRefundMinor(order, failure)
    : Math.min(ev.amountMinor, order.refundedMinor);
}

/** A part DEDUCTING within its lease is in progress; past it, a dead delivery's: UNKNOWN. */
async function waitOrAbandon(
  deps: PaymentDeps,
  key: OrderKey,
  part: DeductionPart,
): Promise<'retry' | { inProgress: number }> {
  const now = deps.clock();
  const left = deps.config.leaseSeconds * 1000 - (now.getTime() - Date.parse(part.updatedAt));
  if (left >= 0) return { inProgress: left / 1000 };
  await markAbandoned(deps, key, part, now);
  return 'retry';
}

/** What a re-credit needs: a delivery's deps, or the sweep's. */
export interface RecreditDeps {
  ledger: Pick<Ledger, 'settleReversal'>;
  upstream: Pick<DynamicTrafficApi, 'rechargeTrafficCount'>;
  sink: OpsEventSink;
  clock: () => Date;
}

/**
 * Credits a RECREDITING part's GB back. Safe to repeat (a redelivery, the sweep): the upstream
 * applies the part's own `orderId` at most once.
 */
export async function recredit(
  deps: RecreditDeps,
  key: OrderKey,
  part: Pick<DeductionPart, 'partId' | 'kind' | 'gb' | 'customerId' | 'orderId'>,
  signal?: AbortSignal,
): Promise<Outcome> {
  const orderId =
    part.orderId ?? deriveOrderId(key.provider as ProviderId, `${key.paymentId}#${part.partId}`);
  try {
    const res = await deps.upstream.rechargeTrafficCount(
      { customerId: part.customerId ?? '', orderId, trafficGb: new Decimal(part.gb) },
      signal ? { signal } : undefined,
    );
    await deps.ledger.settleReversal(key, part.partId, {
      now: deps.clock(),
      code: res.code,
      message: res.message,
    });
    logger.info('traffic given back', partFacts(key, part));
    return ok('given-back');
  } catch (err) {
    // The part stays RECREDITING: the redelivery (or the sweep) calls again with the same orderId.
    const error = err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 300) : 'unknown';
    logger.warn('traffic not given back for now', { ...partFacts(key, part), error });
    if (err instanceof UpstreamRejectedError) {
      await raiseAlert(deps.sink, {
        kind: 'topup-failed',
        severity: 'critical',
        subject: `reversal:${key.provider}:${key.paymentId}:${part.partId}`,
        summary: `Giving back ${part.gb} GB to customer ${part.customerId ?? '?'} was refused (code ${err.code})`,
        details: { ...partFacts(key, part), upstreamCode: String(err.code), error },
      });
    }
    return { statusCode: 503, result: 'retry-later', retryAfterSeconds: TRANSIENT_RETRY_AFTER };
  }
}

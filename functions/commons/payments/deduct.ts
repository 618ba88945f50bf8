import { logger } from '../logger.ts';
import { StoreError } from '../store/errors.ts';
import type { DeductionPart, Order, OrderKey } from '../store/ledger.ts';
import { Decimal } from '../units.ts';
import {
  UpstreamAuthError,
  UpstreamRejectedError,
  UpstreamTransportError,
} from '../upstream/errors.ts';
import { raiseAlert } from './alerts.ts';
import { gbToDeduct } from './catalog.ts';
import type { DisputeEvent, Outcome, PaymentDeps, ProviderId, RefundEvent } from './types.ts';

/** Optimistic rounds when concurrent refunds of one payment move its counters. */
const CLAIM_ROUNDS = 3;

const ok = (result: string): Outcome => ({ statusCode: 200, result });

type PartInput = Omit<DeductionPart, 'createdAt' | 'updatedAt'>;

function findOrder(provider: ProviderId, ev: RefundEvent | DisputeEvent, deps: PaymentDeps) {
  return 'paymentIntentId' in ev.ref
    ? deps.ledger.findByPaymentIntent(ev.ref.paymentIntentId)
    : deps.ledger.getOrder({ provider, paymentId: ev.ref.paymentId });
}

/**
 * Takes traffic back for a refund or dispute, at most once. `deductionFlow` has no idempotency
 * key, so each part is claimed in the ledger first (the part item and the order's counters in
 * one transaction); a redelivery finds the claim and never calls again. When the answer to
 * the one call is lost the part is marked UNKNOWN and a human is alerted.
 *
 * Refunds give nothing back to the customer's monthly cap counter, on purpose: the cap
 * bounds what is credited automatically in a month (a guard against a leaked key or a shop
 * bug), and a deduction may fail or stay UNKNOWN, or land in another month than its credit;
 * giving room back would let buy-refund cycles re-arm the guard. The cost is that a
 * refunded customer may reach the cap sooner: that order is held for a human, the safe side.
 */
export async function deductForRefund(
  provider: ProviderId,
  ev: RefundEvent | DisputeEvent,
  deps: PaymentDeps,
  opts: { signal?: AbortSignal } = {},
): Promise<Outcome> {
  for (let round = 0; round < CLAIM_ROUNDS; round++) {
    const order = await findOrder(provider, ev, deps);
    if (!order) {
      logger.info('refund or dispute for a payment not in the ledger', {
        provider,
        partId: ev.partId,
      });
      return ok('unknown-payment');
    }
    const step = await claim(ev, order, deps);
    if (step === 'retry') continue;
    if ('statusCode' in step) return step;
    return callDeduction(deps, order, step.part, opts.signal);
  }
  return { statusCode: 409, result: 'in-progress', retryAfterSeconds: 1 };
}

async function claim(
  ev: RefundEvent | DisputeEvent,
  order: Order,
  deps: PaymentDeps,
): Promise<Outcome | 'retry' | { part: PartInput }> {
  const key: OrderKey = { provider: order.provider, paymentId: order.paymentId };
  const now = deps.clock();
  const newMinor = ev.type === 'refund' ? ev.refundedMinor - order.refundedMinor : ev.amountMinor;
  const base = {
    partId: ev.partId,
    kind: ev.type,
    ...(order.customerId ? { customerId: order.customerId } : {}),
  };
  if (order.state === 'CREDITING' || order.state === 'RECEIVED') {
    // The credit is unresolved; deciding now could miss GB that are about to arrive.
    return { statusCode: 409, result: 'in-progress', retryAfterSeconds: 5 };
  }
  if (order.state !== 'CREDITED' || ev.currency !== order.currency) {
    const reason = order.state !== 'CREDITED' ? 'not-credited' : 'currency-mismatch';
    const res = await deps.ledger.recordPart(
      key,
      { ...base, state: 'SKIPPED', gb: '0', minor: Math.max(0, newMinor), reason },
      now,
    );
    if (res.created && reason === 'currency-mismatch') {
      await raiseAlert(deps.sink, {
        kind: 'amount-mismatch',
        severity: 'warning',
        subject: `deduction:${key.provider}:${key.paymentId}:${ev.partId}`,
        summary: `Refund or dispute in ${ev.currency} for an order paid in ${order.currency}: nothing deducted`,
        details: { orderId: order.orderId, paymentId: order.paymentId, partId: ev.partId },
      });
    }
    return ok('nothing-to-deduct');
  }
  if (newMinor <= 0) {
    const part = await deps.ledger.getPart(key, ev.partId);
    return part ? abandonedOrDone(deps, order, part, now) : ok('already-deducted');
  }

  const paid = order.amountMinor ?? 0;
  const covered = Math.min(paid, order.deductedMinor + newMinor);
  const target = gbToDeduct(order.gb ?? '0', covered, paid);
  const already = new Decimal(order.deductedGb);
  const delta = Decimal.max(0, target.minus(already));
  const part: PartInput = {
    ...base,
    state: delta.gt(0) ? 'DEDUCTING' : 'DEDUCTED',
    gb: delta.toFixed(),
    minor: newMinor,
  };
  const res = await deps.ledger.claimDeduction({
    key,
    part,
    expect: { refundedMinor: order.refundedMinor, deductedMinor: order.deductedMinor },
    next: {
      refundedMinor: ev.type === 'refund' ? ev.refundedMinor : order.refundedMinor,
      deductedMinor: covered,
      deductedGb: Decimal.max(target, already).toFixed(),
    },
    now,
  });
  if (res.outcome === 'part-exists') return abandonedOrDone(deps, order, res.part, now);
  if (res.outcome !== 'claimed') return 'retry';
  if (delta.isZero()) return ok('deducted');
  return { part };
}

/**
 * A redelivery found its part already claimed: never call again. A part still DEDUCTING
 * long after any delivery could still be calling (the lease outlasts the function's timeout)
 * was abandoned mid-call by a crash: its outcome is unknown, so it is marked UNKNOWN and a
 * human is alerted, as when the answer is lost.
 */
async function abandonedOrDone(
  deps: PaymentDeps,
  order: Order,
  part: DeductionPart,
  now: Date,
): Promise<Outcome> {
  const age = now.getTime() - Date.parse(part.updatedAt);
  if (part.state !== 'DEDUCTING' || !(age > deps.config.leaseSeconds * 1000)) {
    return ok('already-deducted');
  }
  const key: OrderKey = { provider: order.provider, paymentId: order.paymentId };
  const error = 'the delivery that called deductionFlow never reported back';
  try {
    await deps.ledger.settleDeduction(key, part.partId, { state: 'UNKNOWN', now, error });
  } catch (err) {
    // Another redelivery settled it first (the write is conditional on DEDUCTING).
    if (
      err instanceof StoreError &&
      (err.cause as Error | undefined)?.name === 'ConditionalCheckFailedException'
    ) {
      return ok('already-deducted');
    }
    throw err;
  }
  await alertNeedsHuman(deps, order, part, 'UNKNOWN', error);
  return ok('deduction-unknown');
}

function partFacts(order: Order, part: Pick<DeductionPart, 'partId' | 'kind' | 'gb'>) {
  return {
    provider: order.provider,
    paymentId: order.paymentId,
    orderId: order.orderId,
    partId: part.partId,
    kind: part.kind,
    customerId: order.customerId ?? '',
    gb: part.gb,
  };
}

async function alertNeedsHuman(
  deps: PaymentDeps,
  order: Order,
  part: Pick<DeductionPart, 'partId' | 'kind' | 'gb'>,
  state: 'UNKNOWN' | 'FAILED',
  error: string,
): Promise<void> {
  const details = partFacts(order, part);
  logger.error('deduction needs a human', { ...details, state, error });
  await raiseAlert(deps.sink, {
    kind: 'deduction-unknown',
    severity: 'critical',
    subject: `deduction:${order.provider}:${order.paymentId}:${part.partId}`,
    summary:
      state === 'FAILED'
        ? `Deduction of ${part.gb} GB from customer ${details.customerId} was not applied; deduct it by hand`
        : `Deduction of ${part.gb} GB from customer ${details.customerId} may or may not have been applied; check the upstream before acting`,
    details: { ...details, state, error },
  });
}

async function callDeduction(
  deps: PaymentDeps,
  order: Order,
  part: PartInput,
  signal: AbortSignal | undefined,
): Promise<Outcome> {
  const key: OrderKey = { provider: order.provider, paymentId: order.paymentId };
  const customerId = order.customerId ?? '';
  try {
    const res = await deps.upstream.deductionFlow(
      { customerId, trafficGb: new Decimal(part.gb) },
      signal ? { signal } : undefined,
    );
    await deps.ledger.settleDeduction(key, part.partId, {
      state: 'DEDUCTED',
      now: deps.clock(),
      code: res.code,
      message: res.message,
    });
    logger.info('traffic deducted', partFacts(order, part));
    return ok('deducted');
  } catch (err) {
    // Not applied for sure: a definite refusal, or a request that never left.
    const notApplied =
      err instanceof UpstreamRejectedError ||
      err instanceof UpstreamAuthError ||
      (err instanceof UpstreamTransportError && !err.sent);
    const state = notApplied ? 'FAILED' : 'UNKNOWN';
    const error = err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 300) : 'unknown';
    await deps.ledger.settleDeduction(key, part.partId, {
      state,
      now: deps.clock(),
      error,
      ...(err instanceof UpstreamRejectedError
        ? { code: err.code, message: err.upstreamMessage }
        : {}),
    });
    await alertNeedsHuman(deps, order, part, state, error);
    return ok(notApplied ? 'deduction-failed' : 'deduction-unknown');
  }
}

import { logger } from '../logger.ts';
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
  if (newMinor <= 0) return ok('already-deducted');

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
  if (res.outcome === 'part-exists') return ok('already-deducted');
  if (res.outcome !== 'claimed') return 'retry';
  if (delta.isZero()) return ok('deducted');
  return { part };
}

async function callDeduction(
  deps: PaymentDeps,
  order: Order,
  part: PartInput,
  signal: AbortSignal | undefined,
): Promise<Outcome> {
  const key: OrderKey = { provider: order.provider, paymentId: order.paymentId };
  const customerId = order.customerId ?? '';
  const details = {
    provider: order.provider,
    paymentId: order.paymentId,
    orderId: order.orderId,
    partId: part.partId,
    kind: part.kind,
    customerId,
    gb: part.gb,
  };
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
    logger.info('traffic deducted', details);
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
    logger.error('deduction needs a human', { ...details, state, error });
    await raiseAlert(deps.sink, {
      kind: 'deduction-unknown',
      severity: 'critical',
      subject: `deduction:${key.provider}:${key.paymentId}:${part.partId}`,
      summary: notApplied
        ? `Deduction of ${part.gb} GB from customer ${customerId} was not applied; deduct it by hand`
        : `Deduction of ${part.gb} GB from customer ${customerId} may or may not have been applied; check the upstream before acting`,
      details: { ...details, state, error },
    });
    return ok(notApplied ? 'deduction-failed' : 'deduction-unknown');
  }
}

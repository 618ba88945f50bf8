import { logger } from '../logger.ts';
import type { DeductionPart, Order, OrderKey, PartInput } from '../store/ledger.ts';
import { Decimal } from '../units.ts';
import { UpstreamRejectedError } from '../upstream/errors.ts';
import { raiseAlert } from './alerts.ts';
import { deriveOrderId, gbToDeduct } from './catalog.ts';
import { findOrder, partFacts } from './deduct.ts';
import type { Outcome, PaymentDeps, ProviderId, ReversalEvent } from './types.ts';

const ROUNDS = 3;
const TRANSIENT_RETRY_AFTER = 5;

const ok = (result: string): Outcome => ({ statusCode: 200, result });

/**
 * Traffic given back when the money comes back: a dispute the shop won
 * (`charge.dispute.funds_reinstated`) re-credits what its deduction took; a refund that
 * failed re-credits the share of that amount. Exactly once: the reversal is a part of the
 * order claimed with the order's counters (which go down by what it gives back), and the
 * re-credit is a `rechargeTrafficCount` with an `orderId` of its own, which the upstream
 * applies at most once however often a redelivery (or a crash) repeats the call.
 */
export async function reverseDeduction(
  provider: ProviderId,
  ev: ReversalEvent,
  deps: PaymentDeps,
  opts: { signal?: AbortSignal } = {},
): Promise<Outcome> {
  for (let round = 0; round < ROUNDS; round++) {
    const order = await findOrder(provider, ev, deps);
    if (order?.state !== 'CREDITED' || order.currency !== ev.currency) {
      logger.info('reversal with nothing to give back', { provider, partId: ev.partId });
      return ok('nothing-to-give-back');
    }
    const key: OrderKey = { provider: order.provider, paymentId: order.paymentId };
    const existing = await deps.ledger.getPart(key, ev.partId);
    if (existing) {
      return existing.state === 'RECREDITING'
        ? recredit(deps, order, existing, opts.signal)
        : ok('already-given-back');
    }
    const giveMinor = await minorToGiveBack(ev, order, deps);
    if (giveMinor <= 0) return ok('nothing-to-give-back');
    const paid = order.amountMinor ?? 0;
    const covered = Math.max(0, order.deductedMinor - giveMinor);
    const target = gbToDeduct(order.gb ?? '0', covered, paid);
    const gb = Decimal.max(0, new Decimal(order.deductedGb).minus(target));
    const part: PartInput = {
      partId: ev.partId,
      kind: 'reversal',
      state: gb.gt(0) ? 'RECREDITING' : 'RECREDITED',
      gb: gb.toFixed(),
      minor: giveMinor,
      orderId: deriveOrderId(provider, `${order.paymentId}#${ev.partId}`),
      ...(order.customerId ? { customerId: order.customerId } : {}),
    };
    const refundFailed = ev.kind === 'refund-failed';
    const res = await deps.ledger.claimDeduction({
      key,
      part,
      expect: { refundedMinor: order.refundedMinor, deductedMinor: order.deductedMinor },
      next: {
        refundedMinor: refundFailed
          ? Math.max(0, order.refundedMinor - giveMinor)
          : order.refundedMinor,
        deductedMinor: covered,
        deductedGb: Decimal.min(target, order.deductedGb).toFixed(),
        ...(refundFailed && ev.eventCreated !== undefined
          ? { refundsResetAt: ev.eventCreated }
          : {}),
      },
      now: deps.clock(),
    });
    if (res.outcome !== 'claimed') continue;
    if (gb.isZero()) return ok('given-back');
    return recredit(deps, order, { ...part, createdAt: '', updatedAt: '' }, opts.signal);
  }
  return { statusCode: 409, result: 'in-progress', retryAfterSeconds: 1 };
}

/** Minor units the reversal gives back: the won dispute's part, or the failed refund's amount. */
async function minorToGiveBack(
  ev: ReversalEvent,
  order: Order,
  deps: PaymentDeps,
): Promise<number> {
  if (ev.kind === 'refund-failed') return Math.min(ev.amountMinor, order.refundedMinor);
  const key: OrderKey = { provider: order.provider, paymentId: order.paymentId };
  const dispute = ev.disputePartId ? await deps.ledger.getPart(key, ev.disputePartId) : undefined;
  // Only what was surely taken comes back; an UNKNOWN deduction is already a human's.
  return dispute?.state === 'DEDUCTED' ? dispute.minor : 0;
}

async function recredit(
  deps: PaymentDeps,
  order: Order,
  part: DeductionPart,
  signal: AbortSignal | undefined,
): Promise<Outcome> {
  const key: OrderKey = { provider: order.provider, paymentId: order.paymentId };
  const orderId =
    part.orderId ?? deriveOrderId(key.provider as ProviderId, `${key.paymentId}#${part.partId}`);
  try {
    const res = await deps.upstream.rechargeTrafficCount(
      { customerId: order.customerId ?? '', orderId, trafficGb: new Decimal(part.gb) },
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
    // The part stays RECREDITING: the redelivery calls again with the same orderId.
    const error = err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 300) : 'unknown';
    logger.warn('traffic not given back for now', { ...partFacts(key, part), error });
    if (err instanceof UpstreamRejectedError) {
      await raiseAlert(deps.sink, {
        kind: 'topup-failed',
        severity: 'critical',
        subject: `reversal:${key.provider}:${key.paymentId}:${part.partId}`,
        summary: `Giving back ${part.gb} GB to customer ${order.customerId ?? '?'} was refused (code ${err.code})`,
        details: { ...partFacts(key, part), upstreamCode: String(err.code), error },
      });
    }
    return { statusCode: 503, result: 'retry-later', retryAfterSeconds: TRANSIENT_RETRY_AFTER };
  }
}

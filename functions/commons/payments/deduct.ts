import { setTimeout as delay } from 'node:timers/promises';
import { logger } from '../logger.ts';
import type { OpsEventSink } from '../ops-events.ts';
import { StoreError } from '../store/errors.ts';
import { Decimal } from '../units.ts';
import {
  UpstreamAuthError,
  UpstreamRejectedError,
  UpstreamTransportError,
} from '../upstream/errors.ts';
import { raiseAlert } from './alerts.ts';
import { deriveOrderId } from './catalog.ts';
import { countsRefunds, refKey, shareOf, standingRefunds } from './coverage.ts';
import type {
  DeductionPart,
  Ledger,
  Order,
  OrderKey,
  PartInput,
  PendingEntry,
  PendingGuard,
} from './ledger/ledger.ts';
import { alertGiveBack, recredit, reverseDeduction } from './reverse.ts';
import type {
  DisputeEvent,
  Outcome,
  PaymentDeps,
  PaymentRef,
  ProviderId,
  RefundEvent,
  ReversalEvent,
} from './types.ts';

/** Optimistic rounds when concurrent refunds of one payment move its counters. */
const CLAIM_ROUNDS = 3;
/** Seconds a refund for an order still being credited is asked to wait. */
export const CREDITING_RETRY_AFTER = 5;

const ok = (result: string): Outcome => ({ statusCode: 200, result });
const inProgress = (seconds: number): Outcome => ({
  statusCode: 409,
  result: 'in-progress',
  retryAfterSeconds: Math.max(1, Math.ceil(seconds)),
});

export function findOrder(
  provider: ProviderId,
  ev: { ref: PaymentRef },
  deps: Pick<PaymentDeps, 'ledger'>,
) {
  return 'paymentIntentId' in ev.ref
    ? deps.ledger.findByPaymentIntent(ev.ref.paymentIntentId)
    : deps.ledger.getOrder({ provider, paymentId: ev.ref.paymentId });
}

/** The entry a refund, dispute or reversal is kept as until its order can take it. */
function pendingEntry(ev: RefundEvent | DisputeEvent | ReversalEvent, at: string): PendingEntry {
  const entry: PendingEntry = {
    partId: ev.partId,
    kind: ev.type === 'reversal' ? ev.kind : ev.type,
    minor: ev.type === 'refund' ? ev.refundedMinor : ev.amountMinor,
    currency: ev.currency,
    at,
  };
  if (ev.type !== 'dispute' && ev.eventCreated !== undefined) {
    entry.eventCreated = ev.eventCreated;
  }
  if (ev.type === 'reversal' && ev.disputePartId !== undefined) {
    entry.disputePartId = ev.disputePartId;
  }
  if (ev.type === 'reversal' && ev.disputeLost) entry.disputeLost = true;
  if (ev.type === 'reversal' && ev.refundCreated !== undefined) {
    entry.refundCreated = ev.refundCreated;
  }
  return entry;
}

/** Keeps an event for later; false when `guard` no longer holds (apply it now instead). */
export function recordPending(
  provider: ProviderId,
  ev: RefundEvent | DisputeEvent | ReversalEvent,
  deps: PaymentDeps,
  guard: PendingGuard,
): Promise<boolean> {
  const now = deps.clock();
  return deps.ledger.recordPending({
    provider,
    ref: refKey(ev.ref),
    entry: pendingEntry(ev, now.toISOString()),
    guard,
    now,
  });
}

/** The guard that the event's payment is still unknown. */
export function paymentUnknown(provider: ProviderId, ref: PaymentRef): PendingGuard {
  return 'paymentIntentId' in ref
    ? { paymentIntentAbsent: ref.paymentIntentId }
    : { orderAbsent: { provider, paymentId: ref.paymentId } };
}

/**
 * Takes traffic back for a refund or dispute, at most once. `deductionFlow` has no idempotency
 * key, so each part is claimed in the ledger first (the part item and the order's counters in
 * one transaction); a redelivery finds the claim and never calls again. When the answer to
 * the one call is lost the part is marked UNKNOWN and a human is alerted.
 *
 * No refund is dropped for arriving early: for a payment not in the ledger yet it is recorded
 * as pending (answered 2xx) and the paid event, when it comes, credits only what was not
 * refunded; for an order still being credited it is recorded too (answered 409, so the
 * provider retries) and applied as soon as the credit is done, by the delivery or the replay
 * that finishes it.
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
      if (!(await recordPending(provider, ev, deps, paymentUnknown(provider, ev.ref)))) continue;
      logger.info('refund or dispute recorded before its payment', {
        provider,
        partId: ev.partId,
      });
      return ok('recorded-before-payment');
    }
    const key: OrderKey = { provider: order.provider, paymentId: order.paymentId };
    if (order.state === 'CREDITING' || order.state === 'RECEIVED') {
      // The credit is unresolved; deciding now could miss GB that are about to arrive. The
      // refund is kept on the order's side, so the credit applies it however it ends.
      if (!(await recordPending(provider, ev, deps, { orderCrediting: key }))) continue;
      return inProgress(CREDITING_RETRY_AFTER);
    }
    let standing: RefundEvent | DisputeEvent = ev;
    if (ev.type === 'refund' && ev.eventCreated !== undefined) {
      const report = await newerReport(provider, ev, ev.eventCreated, order, deps, opts);
      if (report === 'retry') continue;
      if ('statusCode' in report) return report;
      standing = { ...ev, refundedMinor: report.minor };
    }
    // The total as reported: what a later failure is judged against.
    const total = ev.type === 'refund' ? ev.refundedMinor : undefined;
    const step = await claim(standing, order, deps, opts.signal, total);
    if (step === 'retry') continue;
    if ('statusCode' in step) return step;
    return callDeduction(deps, order, step.part, opts.signal);
  }
  return inProgress(1);
}

/**
 * Stripe's refunded total is cumulative: the latest one created is the truth, less the
 * refunds it counted that failed since (`standingRefunds`). An older total is stale; a newer
 * one standing for less means a refund failed in between (its own event may come later, or
 * never): the difference comes back as a failed refund would. A newer one standing for as
 * much is noted, so that a failure is judged against it. Otherwise the total is claimed as
 * usual, standing for `minor`.
 */
async function newerReport(
  provider: ProviderId,
  ev: RefundEvent,
  created: number,
  order: Order,
  deps: PaymentDeps,
  opts: { signal?: AbortSignal },
): Promise<Outcome | 'retry' | { minor: number }> {
  if (order.refundedAt !== undefined && created < order.refundedAt) return ok('stale-event');
  const minor = standingRefunds(ev.refundedMinor, created, order.failedRefunds);
  // Not strictly newer (a redelivery, the same second), or standing for more: as usual.
  if (minor > order.refundedMinor) return { minor };
  if (order.refundedAt === undefined || created <= order.refundedAt) return { minor };
  if (minor === order.refundedMinor) {
    const key: OrderKey = { provider: order.provider, paymentId: order.paymentId };
    const noted = await deps.ledger.noteRefundReport(key, {
      refundedMinor: order.refundedMinor,
      total: ev.refundedMinor,
      version: order.version ?? 0,
      at: created,
      now: deps.clock(),
    });
    return noted ? ok('already-deducted') : 'retry';
  }
  return reverseDeduction(
    provider,
    {
      type: 'reversal',
      kind: 'refund-failed',
      ref: ev.ref,
      partId: `${ev.partId}@${created}`,
      amountMinor: order.refundedMinor - minor,
      lowered: { totalMinor: ev.refundedMinor, at: created },
      currency: ev.currency,
      eventCreated: created,
    },
    deps,
    opts,
  );
}

async function claim(
  ev: RefundEvent | DisputeEvent,
  order: Order,
  deps: PaymentDeps,
  signal: AbortSignal | undefined,
  total?: number,
): Promise<Outcome | 'retry' | { part: PartInput }> {
  const key: OrderKey = { provider: order.provider, paymentId: order.paymentId };
  const now = deps.clock();
  const share = shareOf(
    { ...order, gb: order.gb ?? '0', paidMinor: order.amountMinor ?? 0 },
    ev.type === 'refund'
      ? {
          kind: 'refund',
          minor: ev.refundedMinor,
          ...(total === undefined ? {} : { total }),
          ...(ev.eventCreated === undefined ? {} : { created: ev.eventCreated }),
        }
      : { kind: 'dispute', minor: ev.amountMinor },
  );
  // After a refund failed, one total (amount) can stand for more again later: each report of
  // it is a part of its own (a redelivery names the same creation time).
  const partId =
    ev.type === 'refund' && order.refundsResetAt !== undefined
      ? `${ev.partId}@${ev.eventCreated ?? order.refundsResetAt}`
      : ev.partId;
  const base = {
    partId,
    kind: ev.type,
    ...(order.customerId ? { customerId: order.customerId } : {}),
  };
  if (!countsRefunds(order) || ev.currency !== order.currency) {
    const reason = countsRefunds(order) ? 'currency-mismatch' : 'not-credited';
    const res = await deps.ledger.recordPart(
      key,
      { ...base, state: 'SKIPPED', gb: '0', minor: Math.max(0, share.newMinor), reason },
      now,
    );
    if (res.created && reason === 'currency-mismatch') {
      await raiseAlert(deps.sink, {
        kind: 'amount-mismatch',
        severity: 'warning',
        subject: `deduction:${key.provider}:${key.paymentId}:${partId}`,
        summary: `Refund or dispute in ${ev.currency} for an order paid in ${order.currency}: nothing deducted`,
        details: { orderId: order.orderId, paymentId: order.paymentId, partId },
      });
    }
    return ok('nothing-to-deduct');
  }
  if (share.newMinor <= 0) {
    const part = await deps.ledger.getPart(key, partId);
    return part ? claimedBefore(deps, key, part, now, signal) : ok('already-deducted');
  }

  const part: PartInput = {
    ...base,
    state: share.gb.gt(0) ? 'DEDUCTING' : 'DEDUCTED',
    gb: share.gb.toFixed(),
    minor: share.newMinor,
  };
  const res = await deps.ledger.claimDeduction({
    key,
    part,
    expect: {
      refundedMinor: order.refundedMinor,
      deductedMinor: order.deductedMinor,
      version: order.version ?? 0,
    },
    next: share.next,
    now,
  });
  if (res.outcome === 'part-exists') return claimedBefore(deps, key, res.part, now, signal);
  if (res.outcome !== 'claimed') return 'retry';
  if (share.gb.isZero()) return ok('deducted');
  return { part };
}

/**
 * The part was claimed by an earlier delivery. A lower total's reversal (`newerReport`, the
 * same part id) whose re-credit failed is driven again: its redelivery ends up here, not in
 * `reverseDeduction`, and the upstream applies the reversal's orderId once.
 */
function claimedBefore(
  deps: PaymentDeps,
  key: OrderKey,
  part: DeductionPart,
  now: Date,
  signal: AbortSignal | undefined,
): Promise<Outcome> {
  if (part.state === 'RECREDITING') return recredit(deps, key, part, signal);
  // The give-back of a lower total sent again: a give-back, never a deduction in doubt.
  if (part.kind === 'reversal') return givenBackBefore(deps, key, part, now);
  return abandonedOrDone(deps, key, part, now);
}

/** A give-back claimed before: a person's (alerted again as its own alert says), or done. */
async function givenBackBefore(
  deps: PaymentDeps,
  key: OrderKey,
  part: DeductionPart,
  now: Date,
): Promise<Outcome> {
  if (part.state !== 'UNKNOWN') return ok('already-given-back');
  await alertGiveBack(deps, key, part, '', now);
  return ok('needs-a-person');
}

/**
 * A redelivery found its part already claimed: never call again. A part still DEDUCTING
 * within the lease may still be in a delivery's hands: the sender is asked to come back
 * (409, as for a top-up). Past the lease the delivery died mid-call: its outcome is
 * unknown, so it is marked UNKNOWN and a human is alerted (the poll's sweep does the same
 * for parts nobody redelivers). A part already a person's is alerted again: the delivery
 * that marked it may have died before its alert.
 */
async function abandonedOrDone(
  deps: PaymentDeps,
  key: OrderKey,
  part: DeductionPart,
  now: Date,
): Promise<Outcome> {
  if (part.state === 'UNKNOWN' || part.state === 'FAILED') {
    await alertNeedsHuman(deps, key, part, part.state, part.error ?? 'unknown', now);
    return ok(part.state === 'UNKNOWN' ? 'deduction-unknown' : 'deduction-failed');
  }
  if (part.state !== 'DEDUCTING') return ok('already-deducted');
  const left = deps.config.leaseSeconds * 1000 - (now.getTime() - Date.parse(part.updatedAt));
  if (left >= 0) return inProgress(left / 1000);
  return (await markAbandoned(deps, key, part, now))
    ? ok('deduction-unknown')
    : ok('already-deducted');
}

/**
 * Marks a part a dead delivery left DEDUCTING as UNKNOWN and alerts; false when another
 * settled it first (the write is conditional on DEDUCTING).
 */
export async function markAbandoned(
  deps: { ledger: Pick<Ledger, 'settleDeduction' | 'markAlerted'>; sink: OpsEventSink },
  key: OrderKey,
  part: Pick<DeductionPart, 'partId' | 'kind' | 'gb' | 'customerId'>,
  now: Date,
): Promise<boolean> {
  const error = 'the delivery that called deductionFlow never reported back';
  try {
    await deps.ledger.settleDeduction(key, part.partId, { state: 'UNKNOWN', now, error });
  } catch (err) {
    if (
      err instanceof StoreError &&
      (err.cause as Error | undefined)?.name === 'ConditionalCheckFailedException'
    ) {
      return false;
    }
    throw err;
  }
  await alertNeedsHuman(deps, key, part, 'UNKNOWN', error, now);
  return true;
}

export function partFacts(
  key: OrderKey,
  part: Pick<DeductionPart, 'partId' | 'kind' | 'gb' | 'customerId'>,
) {
  return {
    provider: key.provider,
    paymentId: key.paymentId,
    orderId: deriveOrderId(key.provider as ProviderId, key.paymentId),
    partId: part.partId,
    kind: part.kind,
    customerId: part.customerId ?? '',
    gb: part.gb,
  };
}

/**
 * Marks a part's alert as sent. Best effort: if the mark is lost, the sweep alerts the part
 * once more, which beats failing a delivery whose outcome is already recorded.
 */
export async function noteAlerted(
  deps: { ledger: Pick<Ledger, 'markAlerted'> },
  key: OrderKey,
  partId: string,
  now: Date,
): Promise<void> {
  try {
    await deps.ledger.markAlerted(key, partId, now);
  } catch (err) {
    logger.warn('alert sent but not noted on the part; the sweep alerts it again', {
      partId,
      error: err instanceof Error ? err.name : 'unknown',
    });
  }
}

/** The critical alert for a deduction handed to a person; the part then notes it went out. */
export async function alertNeedsHuman(
  deps: { ledger: Pick<Ledger, 'markAlerted'>; sink: OpsEventSink },
  key: OrderKey,
  part: Pick<DeductionPart, 'partId' | 'kind' | 'gb' | 'customerId'>,
  state: 'UNKNOWN' | 'FAILED',
  error: string,
  now: Date,
): Promise<void> {
  const details = partFacts(key, part);
  logger.error('deduction needs a human', { ...details, state, error });
  const raised = await raiseAlert(deps.sink, {
    kind: 'deduction-unknown',
    severity: 'critical',
    subject: `deduction:${key.provider}:${key.paymentId}:${part.partId}`,
    summary:
      state === 'FAILED'
        ? `Deduction of ${part.gb} GB from customer ${details.customerId} was not applied; deduct it by hand`
        : `Deduction of ${part.gb} GB from customer ${details.customerId} may or may not have been applied; check the upstream before acting`,
    details: { ...details, state, error },
  });
  if (raised) await noteAlerted(deps, key, part.partId, now);
}

async function callDeduction(
  deps: PaymentDeps,
  order: Order,
  part: PartInput,
  signal: AbortSignal | undefined,
): Promise<Outcome> {
  const key: OrderKey = { provider: order.provider, paymentId: order.paymentId };
  const customerId = order.customerId ?? '';
  let res: Awaited<ReturnType<PaymentDeps['upstream']['deductionFlow']>>;
  try {
    res = await deps.upstream.deductionFlow(
      { customerId, trafficGb: new Decimal(part.gb) },
      signal ? { signal } : undefined,
    );
  } catch (err) {
    // Not applied for sure: a definite refusal, or a request that never left.
    const notApplied =
      err instanceof UpstreamRejectedError ||
      err instanceof UpstreamAuthError ||
      (err instanceof UpstreamTransportError && !err.sent);
    const state = notApplied ? 'FAILED' : 'UNKNOWN';
    const error = err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 300) : 'unknown';
    await settlePart(deps, key, part.partId, {
      state,
      now: deps.clock(),
      error,
      ...(err instanceof UpstreamRejectedError
        ? { code: err.code, message: err.upstreamMessage }
        : {}),
    });
    await alertNeedsHuman(deps, key, part, state, error, deps.clock());
    return ok(notApplied ? 'deduction-failed' : 'deduction-unknown');
  }
  // The upstream applied it: only the record is left, and a failed write of it is retried,
  // never taken for a failed call (that would hand a known deduction to a person).
  await settlePart(deps, key, part.partId, {
    state: 'DEDUCTED',
    now: deps.clock(),
    code: res.code,
    message: res.message,
  });
  logger.info('traffic deducted', partFacts(key, part));
  return ok('deducted');
}

/** Writes of a settled part tried per delivery; past them the part stays DEDUCTING. */
const SETTLE_ATTEMPTS = 4;
const SETTLE_BACKOFF_MS = 50;

/**
 * Records a deduction's outcome, retrying a write that failed (throttled, or its answer
 * lost: the retry then finds the part already so). If every attempt fails the part stays
 * DEDUCTING and the error goes up: the redelivery or the sweep marks it UNKNOWN and alerts.
 */
async function settlePart(
  deps: Pick<PaymentDeps, 'ledger'>,
  key: OrderKey,
  partId: string,
  result: Parameters<Ledger['settleDeduction']>[2],
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await deps.ledger.settleDeduction(key, partId, result);
      return;
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
      if ((err.cause as Error | undefined)?.name === 'ConditionalCheckFailedException') {
        if ((await deps.ledger.getPart(key, partId))?.state === result.state) return;
        throw err;
      }
      if (attempt >= SETTLE_ATTEMPTS) throw err;
      logger.warn('settling a deduction failed; trying again', { partId, attempt });
      await delay(SETTLE_BACKOFF_MS * 2 ** (attempt - 1));
    }
  }
}

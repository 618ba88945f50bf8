import { randomUUID } from 'node:crypto';
import { infoEnabled, logger } from '../logger.ts';
import { money } from '../money.ts';
import type { OpsEvent, OpsEventSink } from '../ops-events.ts';
import { Decimal } from '../units.ts';
import {
  NotChannelCustomerError,
  UpstreamAuthError,
  UpstreamError,
  UpstreamRejectedError,
} from '../upstream/errors.ts';
import { raiseAlert } from './alerts.ts';
import {
  capMonth,
  configDecimal,
  type Decision,
  decide,
  deriveOrderId,
  type RejectReason,
} from './catalog.ts';
import { foldPending, orderRef, refKey } from './coverage.ts';
import type {
  Lease,
  Ledger,
  MonthCap,
  NewOrder,
  Order,
  OrderKey,
  Pending,
  TakePending,
} from './ledger/ledger.ts';
import { gbToCredit } from './ledger/ledger-orders.ts';
import { applyPendingRefunds } from './pending.ts';
import type { HoldReason, OrderReason } from './reasons.ts';
import type { Outcome, PaymentDeps, PaymentFailed, PaymentSucceeded, ProviderId } from './types.ts';

/** Seconds a provider should wait before retrying after a transient failure. */
const TRANSIENT_RETRY_AFTER = 5;

type OrderBase = Omit<NewOrder, 'state' | 'reason'>;

const ok = (result: string): Outcome => ({ statusCode: 200, result });
const inProgress = (seconds: number): Outcome => ({
  statusCode: 409,
  result: 'in-progress',
  retryAfterSeconds: Math.max(1, seconds),
});

/** An order whose PaymentIntent another order had already claimed: recorded, never credited. */
const DUPLICATE_PI: OrderReason = 'duplicate-payment-intent';

export const orderSubject = (key: OrderKey) => `order:${key.provider}:${key.paymentId}`;
/**
 * A failure the order is retried after (a refusal with an undocumented code, the token
 * refused) alerts under a subject of its own: the order's own alert (failed for good, held,
 * rejected) must be news even to a person who acknowledged "will be retried".
 */
export const retrySubject = (key: OrderKey) => `${orderSubject(key)}:retrying`;

/** The answer for a delivery that found the order already written by another one. */
export function answerExisting(existing: Order, now: Date): Outcome {
  switch (existing.state) {
    case 'CREDITED':
      return ok('already-credited');
    case 'REJECTED':
      return ok(existing.reason === DUPLICATE_PI ? 'duplicate' : 'rejected');
    case 'HELD':
      return ok('held');
    case 'FAILED_PERMANENT':
      return ok('failed');
    case 'PAYMENT_FAILED':
      return ok('payment-failed');
    default:
      // CREDITING under a live lease (or RECEIVED that another delivery just re-claimed).
      return inProgress(Math.ceil(((existing.leaseUntil ?? 0) - now.getTime()) / 1000));
  }
}

function orderBase(provider: ProviderId, ev: PaymentSucceeded, decision: Decision): OrderBase {
  const base: OrderBase = {
    provider,
    paymentId: ev.paymentId,
    orderId: deriveOrderId(provider, ev.paymentId),
  };
  if (decision.customerId !== undefined) base.customerId = decision.customerId;
  if (decision.packageId !== undefined) base.packageId = decision.packageId;
  if (decision.quantity !== undefined) base.quantity = decision.quantity;
  if (decision.gb !== undefined) base.gb = decision.gb.toFixed();
  base.amountMinor = ev.amountMinor;
  if (ev.subtotalMinor !== undefined) base.subtotalMinor = ev.subtotalMinor;
  if (ev.taxMinor !== undefined) base.taxMinor = ev.taxMinor;
  if (ev.discountMinor !== undefined) base.discountMinor = ev.discountMinor;
  base.currency = ev.currency;
  if (ev.paymentIntentId) base.paymentIntentId = ev.paymentIntentId;
  return base;
}

export function facts(base: OrderBase, extra: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {
    provider: base.provider,
    paymentId: base.paymentId,
    orderId: base.orderId,
  };
  if (base.customerId) out.customerId = base.customerId;
  if (base.packageId) out.package = base.packageId;
  if (base.quantity !== undefined) out.quantity = String(base.quantity);
  if (base.gb) out.gb = base.gb;
  if (base.amountMinor !== undefined) {
    out.amount = base.currency
      ? money(base.amountMinor, base.currency)
      : `${base.amountMinor} (minor units)`;
  }
  return { ...out, ...extra };
}

/**
 * The monthly cap (`capGb`, configuration text) against one order's credit: whether the
 * credit alone is over it, and the room (cap − credit) the month's counter may hold before
 * the add.
 */
function capRoom(capGb: string, credit: Decimal) {
  const cap = configDecimal(capGb);
  return { capGb: cap.toFixed(), over: credit.gt(cap), room: cap.minus(credit).toFixed() };
}

/** Rounds when a refund for the payment is recorded while its order is being written. */
const PENDING_ROUNDS = 3;

/**
 * Credits a paid order exactly once. The first delivery creates the order item holding a
 * lease (adding its GB to the customer's month in the same transaction); a duplicate learns
 * the order's state from that one failed write and never calls the upstream while the lease
 * is live. After a crash the lease expires and a retry calls again with the same orderId,
 * which the upstream answers with "already processed".
 *
 * Refunds and disputes that arrived before the payment (recorded as pending) are taken in
 * the same transaction: only what was not refunded is credited, and a payment refunded in
 * full is recorded REJECTED (`refunded`) without a credit. Should one be recorded between
 * the read and the write, the write fails and the order is decided again.
 */
export async function creditPayment(
  provider: ProviderId,
  ev: PaymentSucceeded,
  deps: PaymentDeps,
  opts: { signal?: AbortSignal } = {},
): Promise<Outcome> {
  // Refunds before the payment are rare: the first write assumes none (and checks it).
  let pending: Pending = { version: 0, entries: [] };
  for (let round = 0; round < PENDING_ROUNDS; round++) {
    const out = await creditOnce(provider, ev, deps, opts, pending);
    if (out !== 'pending-changed') return out;
    pending = await deps.ledger.getPending(provider, refKey(orderRef(ev)));
  }
  return inProgress(1);
}

/** One delivery's attempt at an order: what every step of `creditOnce` reads. */
interface Attempt {
  deps: PaymentDeps;
  provider: ProviderId;
  ev: PaymentSucceeded;
  decision: Decision;
  base: OrderBase;
  subject: string;
  now: Date;
  lease: Lease;
  pending: Pending;
  signal: AbortSignal | undefined;
}

type CreditDecision = Extract<Decision, { kind: 'credit' }>;

async function creditOnce(
  provider: ProviderId,
  ev: PaymentSucceeded,
  deps: PaymentDeps,
  opts: { signal?: AbortSignal },
  pending: Pending,
): Promise<Outcome | 'pending-changed'> {
  const attempt = startAttempt(provider, ev, deps, opts, pending);
  const { decision } = attempt;
  if (decision.kind === 'reject') return recordRejected(attempt, decision.reason, decision.detail);
  if (decision.kind === 'hold') return recordHeld(attempt, decision.reason, decision.detail);
  return creditDecided(attempt, decision);
}

function startAttempt(
  provider: ProviderId,
  ev: PaymentSucceeded,
  deps: PaymentDeps,
  opts: { signal?: AbortSignal },
  pending: Pending,
): Attempt {
  const now = deps.clock();
  const decision = decide(ev, deps.config);
  const base = orderBase(provider, ev, decision);
  const subject = orderSubject(base);
  const lease = {
    owner: (deps.newLeaseOwner ?? randomUUID)(),
    until: now.getTime() + deps.config.leaseSeconds * 1000,
  };
  return { deps, provider, ev, decision, base, subject, now, lease, pending, signal: opts.signal };
}

/** The answer for an order another delivery already wrote (see `resumeOrder`). */
const resumeWith = (a: Attempt) => (existing: Order) =>
  resumeOrder(a.deps, existing, a.now, a.lease, a.signal);

/** The refunds recorded before the order, folded against what was paid, for its write. */
function takePending(a: Attempt, mode: 'before-credit' | 'not-credited'): TakePending {
  const { base, ev, decision, pending } = a;
  // base.gb is decision.gb as text, when the decision has one.
  const paid: Parameters<typeof foldPending>[0] = {
    gb: base.gb ?? '0',
    paidMinor: ev.amountMinor,
    currency: ev.currency,
  };
  if (decision.customerId) paid.customerId = decision.customerId;
  const { parts, counters, refundsResetAt, failedRefunds } = foldPending(
    paid,
    pending.entries,
    mode,
  );
  const take: TakePending = {
    provider: a.provider,
    ref: refKey(orderRef(base)),
    version: pending.version,
    entries: pending.entries,
    parts,
    counters,
  };
  if (refundsResetAt !== undefined) take.refundsResetAt = refundsResetAt;
  if (failedRefunds) take.failedRefunds = failedRefunds;
  return take;
}

function recordRejected(a: Attempt, reason: RejectReason, detail: string) {
  const { base } = a;
  return recordOnly(
    a.deps,
    base,
    'REJECTED',
    reason,
    resumeWith(a),
    takePending(a, 'not-credited'),
    {
      kind: reason === 'amount-mismatch' ? 'amount-mismatch' : 'topup-failed',
      severity: 'warning',
      subject: a.subject,
      summary: `Paid order not credited (${reason}): ${detail}`,
      details: facts(base, { reason }),
    },
  );
}

function recordHeld(a: Attempt, reason: HoldReason, detail: string) {
  const { base } = a;
  return recordOnly(a.deps, base, 'HELD', reason, resumeWith(a), takePending(a, 'not-credited'), {
    kind: 'order-held',
    severity: 'warning',
    subject: a.subject,
    summary: `Order held for review (${reason}): ${detail}`,
    details: facts(base, { reason }),
  });
}

/** Held over the customer's monthly cap: `capGb` is the cap as configuration text, normalised. */
function heldOverCap(a: Attempt, capGb: string, customerId: string, month: string) {
  const detail = `over the monthly cap of ${capGb} GB for customer ${customerId} in ${month}`;
  return recordHeld(a, 'monthly-cap', detail);
}

/**
 * A decision to credit: less what was refunded before the payment was known (nothing at all
 * when refunded in full), held when the credit is over the monthly cap, else written CREDITING.
 */
function creditDecided(a: Attempt, decision: CreditDecision): Promise<Outcome | 'pending-changed'> {
  const { ev, base, deps } = a;
  const early = takePending(a, 'before-credit');
  // Nothing deducted before the credit (the common case): the credit is the decision's GB.
  const deducted = early.counters.deductedGb !== '0';
  const creditGb = deducted ? decision.gb.minus(early.counters.deductedGb) : decision.gb;
  if (a.pending.entries.length > 0 && early.counters.deductedMinor >= ev.amountMinor) {
    // Refunded (or disputed) in full before it was known: nothing is owed.
    return recordOnly(deps, base, 'REJECTED', 'refunded', resumeWith(a), early);
  }
  const creditText = deducted ? creditGb.toFixed() : (base.gb ?? creditGb.toFixed());
  const reduced = deducted && creditGb.lt(decision.gb);

  const cap = capRoom(deps.config.monthlyCapGbPerCustomer, creditGb);
  const month = capMonth(a.now, deps.config.capTimeZone);
  if (cap.over) return heldOverCap(a, cap.capGb, decision.customerId, month);
  const monthCap = { customerId: decision.customerId, month, gb: creditText, room: cap.room };
  return createCrediting(a, reduced ? creditText : undefined, monthCap, early, cap.capGb);
}

/** Writes the order CREDITING under this delivery's lease, then calls the upstream. */
async function createCrediting(
  a: Attempt,
  reducedGb: string | undefined,
  monthCap: MonthCap,
  early: TakePending,
  capGb: string,
): Promise<Outcome | 'pending-changed'> {
  const { deps, base, lease } = a;
  const order: NewOrder =
    reducedGb !== undefined
      ? { ...base, creditGb: reducedGb, state: 'CREDITING' }
      : { ...base, state: 'CREDITING' };
  const created = await deps.ledger.createOrder(order, {
    now: a.now,
    lease,
    monthCap,
    pending: early,
  });
  switch (created.outcome) {
    case 'created':
      return callUpstream(deps, created.order, lease.owner, a.signal);
    case 'cap-exceeded':
      return heldOverCap(a, capGb, monthCap.customerId, monthCap.month);
    case 'pending-changed':
      return 'pending-changed';
    case 'conflict':
      return inProgress(1);
    case 'exists':
      return resumeWith(a)(created.existing);
    case 'payment-intent-taken':
      return recordDuplicate(deps, base, created.by, resumeWith(a));
  }
}

/**
 * The payment's PaymentIntent was claimed by another order (a Checkout session and a marked
 * payment_intent.succeeded for one payment): recorded REJECTED without the PaymentIntent, so
 * its refunds keep reaching the order that holds it, and acknowledged.
 */
async function recordDuplicate(
  deps: PaymentDeps,
  base: OrderBase,
  by: OrderKey | undefined,
  onExists: (existing: Order) => Outcome | Promise<Outcome>,
): Promise<Outcome> {
  const { paymentIntentId, ...rest } = base;
  const res = await deps.ledger.createOrder(
    { ...rest, state: 'REJECTED', reason: DUPLICATE_PI },
    { now: deps.clock() },
  );
  if (res.outcome === 'exists') return onExists(res.existing);
  if (res.outcome !== 'created') return inProgress(1);
  logger.warn('payment intent already credited through another order; not credited again', {
    ...facts(base),
    paymentIntentId,
    duplicateOf: by ? orderSubject(by) : 'unknown',
  });
  return ok('duplicate');
}

/**
 * A delivery (or a replay) found the order already written. An order that was accepted for
 * crediting (RECEIVED after a transient failure or an operator's release, or CREDITING whose
 * lease expired) is credited as stored, whatever this event's own checks now say: the
 * catalog or the limits may have changed since, or an operator overrode them. Anything else
 * is answered from its state.
 */
function resumeOrder(
  deps: PaymentDeps,
  existing: Order,
  now: Date,
  lease: { owner: string; until: number },
  signal: AbortSignal | undefined,
): Outcome | Promise<Outcome> {
  const expired = existing.state === 'CREDITING' && (existing.leaseUntil ?? 0) < now.getTime();
  // Answered at once, without another promise: most duplicates end here.
  if (existing.state !== 'RECEIVED' && !expired) return answerExisting(existing, now);
  return reclaimOrder(deps, existing, now, lease, signal);
}

async function reclaimOrder(
  deps: PaymentDeps,
  existing: Order,
  now: Date,
  lease: { owner: string; until: number },
  signal: AbortSignal | undefined,
): Promise<Outcome> {
  const key: OrderKey = { provider: existing.provider, paymentId: existing.paymentId };
  const again = await deps.ledger.reclaim(key, { now, lease });
  if (!again.claimed) return again.existing ? answerExisting(again.existing, now) : inProgress(1);
  return callUpstream(deps, again.order, lease.owner, signal);
}

/** Records an order that is not credited (with the refunds that came first); no alert: refunded. */
async function recordOnly(
  deps: PaymentDeps,
  base: OrderBase,
  state: 'REJECTED' | 'HELD',
  reason: OrderReason,
  onExists: (existing: Order) => Outcome | Promise<Outcome>,
  pending: TakePending,
  alert?: OpsEvent,
): Promise<Outcome | 'pending-changed'> {
  const now = deps.clock();
  const res = await deps.ledger.createOrder({ ...base, state, reason }, { now, pending });
  if (res.outcome === 'exists') return onExists(res.existing);
  if (res.outcome === 'pending-changed') return res.outcome;
  if (res.outcome === 'payment-intent-taken') return recordDuplicate(deps, base, res.by, onExists);
  if (res.outcome !== 'created') return inProgress(1);
  if (!alert) {
    logger.info('order refunded before it was known; nothing to credit', facts(base));
    return ok('refunded');
  }
  logger.warn('order recorded without credit', { ...facts(base), state, reason });
  await alertOrder(deps, base, alert, now);
  return ok(state === 'REJECTED' ? 'rejected' : 'held');
}

function errorLabel(err: unknown): string {
  if (err instanceof UpstreamError) return `${err.name}: ${err.message}`.slice(0, 300);
  return err instanceof Error ? err.name : 'unknown error';
}

async function callUpstream(
  deps: PaymentDeps,
  order: Order,
  owner: string,
  signal: AbortSignal | undefined,
): Promise<Outcome> {
  const key: OrderKey = { provider: order.provider, paymentId: order.paymentId };
  const { customerId } = order;
  const gb = gbToCredit(order);
  if (customerId === undefined || gb === undefined) {
    throw new Error(`order ${order.orderId} is CREDITING without customer or GB`);
  }
  let result: Awaited<ReturnType<PaymentDeps['upstream']['rechargeTrafficCount']>>;
  try {
    result = await deps.upstream.rechargeTrafficCount(
      { customerId, orderId: order.orderId, trafficGb: new Decimal(gb) },
      signal ? { signal } : undefined,
    );
  } catch (err) {
    return upstreamFailed(deps, order, owner, err);
  }
  const marked = await deps.ledger.markCredited(key, {
    now: deps.clock(),
    code: result.code,
    message: result.message,
  });
  if (infoEnabled()) logger.info('order credited', { ...facts(order), upstream: result.status });
  if (marked.refundsDuringCredit) await applyAfterCredit(deps, order, signal);
  // An earlier attempt failed: a "will be retried" alert of it is over (a read, on these only).
  if (order.lastError !== undefined) {
    await deps.sink
      .resolve?.('topup-failed', retrySubject(order), 'Credited by a later delivery.')
      .catch(() => false);
  }
  return ok('credited');
}

/**
 * Refunds recorded while the order was being credited are deducted now. The credit stands
 * whatever happens here: a failure is logged, the refund's own redelivery or a replay
 * applies it later.
 */
export async function applyAfterCredit(
  deps: PaymentDeps,
  order: Pick<Order, 'provider' | 'paymentId' | 'paymentIntentId'>,
  signal?: AbortSignal,
): Promise<string[]> {
  try {
    return await applyPendingRefunds(order.provider as ProviderId, order, deps, signal);
  } catch (err) {
    logger.error('refunds recorded during the credit not applied yet', {
      provider: order.provider,
      paymentId: order.paymentId,
      error: errorLabel(err),
    });
    return [];
  }
}

async function upstreamFailed(
  deps: PaymentDeps,
  order: Order,
  owner: string,
  err: unknown,
): Promise<Outcome> {
  const now = deps.clock();
  // 204 is the one documented permanent refusal: record it, give the GB back to the month's
  // cap and acknowledge, since a retry would get the same answer.
  if (err instanceof NotChannelCustomerError) return refusedForGood(deps, order, owner, err, now);
  return failedForNow(deps, order, owner, err, now);
}

/** The upstream refused the customer for good: recorded FAILED_PERMANENT, a person told. */
async function refusedForGood(
  deps: PaymentDeps,
  order: Order,
  owner: string,
  err: NotChannelCustomerError,
  now: Date,
): Promise<Outcome> {
  const key: OrderKey = { provider: order.provider, paymentId: order.paymentId };
  await deps.ledger.markFailed(key, {
    now,
    owner,
    reason: 'not-channel-customer',
    code: err.code,
    message: err.upstreamMessage,
    ...(order.capMonth && order.customerId && order.gb
      ? {
          monthGiveBack: {
            customerId: order.customerId,
            month: order.capMonth,
            gb: gbToCredit(order) ?? order.gb,
          },
        }
      : {}),
  });
  logger.warn('upstream refused the recharge', {
    ...facts(order),
    reason: 'not-channel-customer',
  });
  const alert: OpsEvent = {
    kind: 'topup-failed',
    severity: 'warning',
    subject: orderSubject(order),
    summary: `Top-up refused: customer ${order.customerId} is not in the agent's channel`,
    details: facts(order, {
      reason: 'not-channel-customer',
      upstreamCode: String(err.code),
      upstreamMessage: err.upstreamMessage,
    }),
  };
  await alertOrder(deps, key, alert, now);
  return ok('failed');
}

/**
 * Raises the alert of an order a person must see (HELD, FAILED_PERMANENT, REJECTED), then
 * notes on the order that it went out. One the notifier lost, or a run that died before it,
 * leaves no note: the sweep alerts the order again (`sweepStuckDeductions`).
 */
export async function alertOrder(
  deps: { ledger: Pick<Ledger, 'markOrderAlerted'>; sink: OpsEventSink },
  key: OrderKey,
  alert: OpsEvent,
  now: Date,
): Promise<void> {
  if (!(await raiseAlert(deps.sink, alert))) return;
  try {
    await deps.ledger.markOrderAlerted(key, now);
  } catch (err) {
    logger.warn('alert sent but not noted on the order; the sweep alerts it again', {
      provider: key.provider,
      paymentId: key.paymentId,
      error: err instanceof Error ? err.name : 'unknown',
    });
  }
}

/**
 * Transient (or the token was refused): give the lease back so the provider's retry can go
 * at once; the upstream dedupes on orderId should the call have been applied. Any other
 * refusal code is undocumented (an empty agent pool, say): the customer has paid, and the
 * recharge is idempotent on orderId, so the order stays retryable — the provider retries
 * (Stripe for 3 days) and `flowpilot replay` re-drives it once the cause is fixed — while a
 * person is told at once, with the upstream's own code and message.
 */
async function failedForNow(
  deps: PaymentDeps,
  order: Order,
  owner: string,
  err: unknown,
  now: Date,
): Promise<Outcome> {
  const key: OrderKey = { provider: order.provider, paymentId: order.paymentId };
  const error = errorLabel(err);
  let released = true;
  try {
    await deps.ledger.release(key, { now, owner, error });
  } catch (releaseErr) {
    released = false;
    logger.error('lease not released; it will expire', { error: errorLabel(releaseErr) });
  }
  logger.warn('top-up failed for now; the provider will retry', { ...facts(order), error });
  // Alerted once the failure is on the order: its credit closes the alert by `lastError`.
  const alert = released ? retryAlert(order, err) : undefined;
  if (alert) await raiseAlert(deps.sink, alert);
  return { statusCode: 503, result: 'retry-later', retryAfterSeconds: TRANSIENT_RETRY_AFTER };
}

/** The "will be retried" alert of a failure a person must fix (a refusal, the token). */
function retryAlert(order: Order, err: unknown): OpsEvent | undefined {
  if (err instanceof UpstreamRejectedError) {
    return {
      kind: 'topup-failed',
      severity: 'critical',
      subject: retrySubject(order),
      summary: `Top-up refused by the upstream (code ${err.code}); the order will be retried, and the customer's auto top-up waits for it`,
      details: facts(order, {
        reason: 'upstream-rejected',
        upstreamCode: String(err.code),
        upstreamMessage: err.upstreamMessage,
      }),
    };
  }
  if (err instanceof UpstreamAuthError) {
    return {
      kind: 'topup-failed',
      severity: 'critical',
      subject: retrySubject(order),
      summary: 'Top-up failed: the upstream rejected the access token',
      details: facts(order, { error: 'upstream rejected the access token' }),
    };
  }
  return undefined;
}

/** A delayed payment (e.g. bank debit) failed: recorded so the order can never be credited. */
export async function recordPaymentFailed(
  provider: ProviderId,
  ev: PaymentFailed,
  deps: PaymentDeps,
): Promise<Outcome> {
  const now = deps.clock();
  const res = await deps.ledger.createOrder(
    {
      provider,
      paymentId: ev.paymentId,
      orderId: deriveOrderId(provider, ev.paymentId),
      state: 'PAYMENT_FAILED',
    },
    { now },
  );
  if (res.outcome === 'exists') return answerExisting(res.existing, now);
  if (res.outcome !== 'created') return inProgress(1);
  return ok('payment-failed');
}

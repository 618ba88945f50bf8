import { randomUUID } from 'node:crypto';
import type { PaymentsConfig } from '../../../functions/commons/config/payments.ts';
import type { OpsEventSink } from '../../../functions/commons/ops-events.ts';
import { capMonth, decide, deriveOrderId } from '../../../functions/commons/payments/catalog.ts';
import type {
  Ledger,
  Order,
  OrderKey,
  OrderState,
} from '../../../functions/commons/payments/ledger/ledger.ts';
import type { LedgerReader } from '../../../functions/commons/payments/ledger/ledger-read.ts';
import {
  applyAfterCredit,
  creditPayment,
  orderSubject,
  retrySubject,
} from '../../../functions/commons/payments/topup.ts';
import type {
  PaymentDeps,
  PaymentSucceeded,
  ProviderId,
} from '../../../functions/commons/payments/types.ts';
import { Decimal } from '../../../functions/commons/units.ts';
import type { DynamicTrafficApi } from '../../../functions/commons/upstream/types.ts';
import { defineCommand, expectPositionals, printJson, stringOption } from '../command.ts';
import { EXIT, NotFoundError, UsageError } from '../errors.ts';
import { fields } from '../format.ts';
import { orderKeyText, parseOrderKey } from './orders.ts';

export interface ReplayDeps {
  ledger: Ledger;
  /** Asked for only when the order is replayable, so refusals work without an upstream. */
  upstream: () => Pick<DynamicTrafficApi, 'rechargeTrafficCount' | 'deductionFlow'>;
  sink: OpsEventSink;
  clock: () => Date;
  payments: PaymentsConfig;
}

export type ReplayOutcome =
  /** The upstream applied it now (or said it already had): the order is CREDITED. */
  | 'credited'
  /** It was CREDITED before: nothing was sent. */
  | 'already-credited'
  /** A delivery holds a live lease: it is being credited right now. */
  | 'in-progress'
  /** The upstream failed for now; the order is RECEIVED again and may be replayed later. */
  | 'retry-later'
  /** The upstream refused for good: the order is FAILED_PERMANENT. */
  | 'failed'
  /** Its state (or the catalog) says it must not be credited: nothing was sent. */
  | 'refused';

export interface ReplayResult {
  outcome: ReplayOutcome;
  key: string;
  /** The order's state after the replay. */
  state: OrderState | undefined;
  message: string;
  /** Set when an operator released the order from HELD (now or before). */
  released?: { by: string; at: string; note: string };
}

const REFUSED_STATES: Partial<Record<OrderState, string>> = {
  REJECTED: 'it was rejected (it does not match the catalog); it is never credited',
  HELD: 'it is held for review (over a limit); release it with --release-held --reason <why>',
  FAILED_PERMANENT: 'the upstream refused it for good (e.g. not a channel customer)',
  PAYMENT_FAILED: 'the payment itself failed',
};

/** The paid event the order was recorded from, rebuilt from what the ledger kept. */
function eventOf(order: Order): PaymentSucceeded {
  return {
    type: 'payment-succeeded',
    paymentId: order.paymentId,
    amountMinor: order.amountMinor ?? 0,
    // Matched to the catalog before tax and discounts, as the paid event was.
    ...(order.subtotalMinor === undefined ? {} : { subtotalMinor: order.subtotalMinor }),
    currency: order.currency ?? '',
    ...(order.customerId === undefined ? {} : { customerId: order.customerId }),
    ...(order.packageId === undefined ? {} : { packageId: order.packageId }),
    ...(order.quantity === undefined ? {} : { quantity: order.quantity }),
    ...(order.paymentIntentId ? { paymentIntentId: order.paymentIntentId } : {}),
  };
}

/**
 * Why the order must not be credited as recorded, or undefined when it may be. The webhook
 * path decides from the catalog again: it must still agree with the order as recorded, so a
 * changed catalog cannot credit a different amount. An order an operator released from HELD
 * skips the limits (per-order maximum, monthly cap): the operator overrode them.
 */
function refusalOf(
  order: Order,
  payments: PaymentsConfig,
  released = order.releasedAt !== undefined,
): string | undefined {
  const decision = decide(eventOf(order), payments);
  const priced = decision.kind === 'credit' || (released && decision.kind === 'hold');
  if (!priced || order.gb === undefined || !decision.gb?.eq(order.gb)) {
    const why = priced ? `${decision.gb?.toFixed() ?? '?'} GB` : decision.detail;
    return `the catalog no longer prices this order as recorded (${order.gb ?? '?'} GB; now: ${why})`;
  }
  if (!released && decision.gb.gt(new Decimal(payments.monthlyCapGbPerCustomer))) {
    return 'the order is over the monthly cap';
  }
  if (deriveOrderId(order.provider as ProviderId, order.paymentId) !== order.orderId) {
    return 'the stored orderId does not derive from the key';
  }
  return undefined;
}

const releasedOf = (order: Order | undefined): ReplayResult['released'] =>
  order?.releasedAt === undefined
    ? undefined
    : { by: order.releasedBy ?? '?', at: order.releasedAt, note: order.releaseNote ?? '' };

/**
 * Re-drives a stuck top-up through the webhook's own exactly-once path (`creditPayment`):
 * the order is reclaimed with a conditional write, so a concurrent delivery and the replay
 * never both call the upstream, and the call carries the order's `orderId`, which the
 * upstream applies at most once. Allowed for RECEIVED (a transient failure gave the lease
 * back, or an operator released a hold) and CREDITING whose lease has expired (a crash
 * mid-call). CREDITED is reported as done; REJECTED, HELD, FAILED_PERMANENT and
 * PAYMENT_FAILED are refused.
 */
export async function replayOrder(deps: ReplayDeps, key: OrderKey): Promise<ReplayResult> {
  const keyText = orderKeyText(key);
  const order = await deps.ledger.getOrder(key);
  if (!order) throw new NotFoundError(`no order ${keyText}`);
  const now = deps.clock();
  const result = (
    outcome: ReplayOutcome,
    state: OrderState | undefined,
    message: string,
  ): ReplayResult => {
    const released = releasedOf(order);
    return { outcome, key: keyText, state, message, ...(released ? { released } : {}) };
  };

  const provider = order.provider as ProviderId;
  const paymentDeps: PaymentDeps = {
    ledger: deps.ledger,
    // Built on the first call, so a replay that sends nothing needs no upstream.
    upstream: {
      rechargeTrafficCount: (...a) => deps.upstream().rechargeTrafficCount(...a),
      deductionFlow: (...a) => deps.upstream().deductionFlow(...a),
    },
    sink: deps.sink,
    clock: deps.clock,
    config: deps.payments,
    // creditPayment verifies nothing; webhook secrets are never needed here.
    getSecret: async () => undefined,
    newLeaseOwner: () => `cli-replay-${randomUUID()}`,
  };
  if (order.state === 'CREDITED') {
    // Refunds recorded while it was being credited, should the delivery that finished the
    // credit have died before applying them.
    const applied = order.refundsDuringCredit ? await applyAfterCredit(paymentDeps, order) : [];
    return result(
      'already-credited',
      order.state,
      `already credited at ${order.creditedAt ?? '?'}; nothing sent${applied.length ? `; refunds recorded during the credit: ${applied.join(', ')}` : ''}`,
    );
  }
  const refusal = REFUSED_STATES[order.state];
  if (refusal) return result('refused', order.state, `not replayed: ${refusal}`);
  if (order.state === 'CREDITING' && (order.leaseUntil ?? 0) >= now.getTime()) {
    const until = new Date(order.leaseUntil ?? 0).toISOString();
    return result(
      'in-progress',
      order.state,
      `a delivery is crediting it (lease until ${until}); try again after that`,
    );
  }
  const why = refusalOf(order, deps.payments);
  if (why) return result('refused', order.state, `not replayed: ${why}`);

  const outcome = await creditPayment(provider, eventOf(order), paymentDeps);
  const after = await deps.ledger.getOrder(key);
  switch (outcome.result) {
    case 'credited':
    case 'already-credited': {
      // A top-up (or hold) alert raised for this order is now settled.
      const kind = order.releasedAt === undefined ? 'topup-failed' : 'order-held';
      for (const [k, subject] of [
        [kind, orderSubject(key)],
        ['topup-failed', retrySubject(key)],
      ] as const) {
        await deps.sink.resolve?.(k, subject, 'Credited by a manual replay.').catch(() => false);
      }
      return result(
        'credited',
        after?.state,
        `credited ${order.gb} GB to customer ${order.customerId}`,
      );
    }
    case 'in-progress':
      return result(
        'in-progress',
        after?.state,
        'another delivery took the order first; it is being credited',
      );
    case 'retry-later':
      return result(
        'retry-later',
        after?.state,
        `the upstream failed for now (${after?.lastError ?? 'no detail'}); the order is ${after?.state ?? '?'} and can be replayed again`,
      );
    case 'failed':
      return result(
        'failed',
        after?.state,
        `the upstream refused it for good (${after?.upstreamCode ?? '?'} ${after?.upstreamMessage ?? ''})`.trim(),
      );
    default:
      return result('refused', after?.state, `not credited: ${outcome.result}`);
  }
}

export interface ReleaseDeps extends ReplayDeps {
  ledgerRead: Pick<LedgerReader, 'orderWithParts'>;
}

/**
 * The operator's way out of HELD (over the per-order maximum or the monthly cap): records who
 * released it, when and why, moves it to RECEIVED with one conditional write, and credits it
 * through `replayOrder`. The operator overrides the limits, so the cap is not checked again;
 * the GB still count in the customer's counter for the month of the release, so later orders
 * see them. Refused when the catalog no longer prices it as recorded, and when a refund or
 * dispute was recorded while it was held (the customer may have their money back). Run again
 * on an order released before (e.g. the upstream failed for now), it only replays.
 */
export async function releaseHeldOrder(
  deps: ReleaseDeps,
  key: OrderKey,
  who: { by: string; note: string },
): Promise<ReplayResult> {
  const keyText = orderKeyText(key);
  const found = await deps.ledgerRead.orderWithParts(key);
  if (!found) throw new NotFoundError(`no order ${keyText}`);
  const { order, parts } = found;
  const refused = (message: string): ReplayResult => ({
    outcome: 'refused',
    key: keyText,
    state: order.state,
    message: `not released: ${message}`,
  });
  if (order.state !== 'HELD') {
    if (order.releasedAt !== undefined) return replayOrder(deps, key);
    return refused(`it is ${order.state}, not HELD`);
  }
  if (parts.length > 0) {
    return refused(
      `a refund or dispute was recorded while it was held (${parts.map((p) => p.partId).join(', ')}); credit it by hand if it is still due`,
    );
  }
  const why = refusalOf(order, deps.payments, true);
  if (why || order.customerId === undefined || order.gb === undefined) {
    return refused(why ?? 'the order has no customer or GB');
  }
  // Fails here (no upstream configured) before anything is written.
  deps.upstream();
  const now = deps.clock();
  const res = await deps.ledger.releaseHeld(key, {
    now,
    by: who.by,
    note: who.note,
    // Refused when a refund or dispute was recorded since the parts above were read.
    version: order.version ?? 0,
    monthCap: {
      customerId: order.customerId,
      month: capMonth(now, deps.payments.capTimeZone),
      gb: order.gb,
    },
  });
  if (!res.released) {
    const now = await deps.ledgerRead.orderWithParts(key);
    const parts = now?.parts ?? [];
    const why =
      parts.length > 0
        ? `a refund or dispute was recorded while it was being released (${parts.map((p) => p.partId).join(', ')}); credit it by hand if it is still due`
        : 'it changed meanwhile; look at it again';
    return { ...refused(why), state: res.existing?.state };
  }
  return replayOrder(deps, key);
}

const EXIT_OF: Record<ReplayOutcome, 0 | 1> = {
  credited: EXIT.ok,
  'already-credited': EXIT.ok,
  'in-progress': EXIT.failure,
  'retry-later': EXIT.failure,
  failed: EXIT.failure,
  refused: EXIT.failure,
};

interface ReplayArgs {
  key: OrderKey;
  release?: { by: string | undefined; note: string };
}

export const replayCommand = defineCommand<ReplayArgs>({
  name: 'replay',
  summary: 're-drive a stuck top-up, or release a held one, exactly once',
  usage: 'flowpilot replay <key> [--release-held --reason <why> [--by <who>]] [--json]',
  details:
    'Replays RECEIVED orders and CREDITING orders whose lease expired; the upstream applies the\n' +
    "order's orderId at most once. CREDITED: nothing to do (exit 0). REJECTED, HELD,\n" +
    'FAILED_PERMANENT, PAYMENT_FAILED and a live lease are refused (exit 1); no order: exit 3.\n' +
    '\n' +
    'options:\n' +
    '  --release-held   release a HELD order (over the per-order maximum or the monthly cap)\n' +
    '                   and credit it: you override the limits. Its GB count in the\n' +
    "                   customer's monthly cap for the month of the release. Refused (exit 1)\n" +
    '                   when it is not HELD, was refunded or disputed, or the catalog no\n' +
    '                   longer prices it as recorded. Run again after a failure, it replays.\n' +
    '  --reason <why>   required with --release-held: why it may be credited (kept in the ledger)\n' +
    '  --by <who>       who releases it (kept in the ledger); default: $USER',
  options: {
    'release-held': { type: 'boolean' },
    reason: { type: 'string' },
    by: { type: 'string' },
  },
  parse(args) {
    const [key = ''] = expectPositionals(args, ['key']);
    const parsed: ReplayArgs = { key: parseOrderKey(key) };
    const note = stringOption(args, 'reason')?.trim();
    const by = stringOption(args, 'by')?.trim();
    if (args.values['release-held'] !== true) {
      if (note !== undefined || by !== undefined) {
        throw new UsageError('--reason and --by go with --release-held');
      }
      return parsed;
    }
    if (!note) throw new UsageError('--release-held needs --reason <why>');
    if (by === '') throw new UsageError('--by must not be empty');
    return { ...parsed, release: { by, note } };
  },
  async run({ key, release }, ctx) {
    const deps: ReleaseDeps = {
      ledger: ctx.stores.ledger,
      ledgerRead: ctx.stores.ledgerRead,
      upstream: () => ctx.upstream(),
      sink: ctx.sink,
      clock: ctx.clock,
      payments: ctx.config.payments,
    };
    let res: ReplayResult;
    if (release) {
      const by = release.by ?? (ctx.io.env.USER || ctx.io.env.LOGNAME);
      if (!by) throw new UsageError('say who releases it with --by <who> (no $USER here)');
      res = await releaseHeldOrder(deps, key, { by, note: release.note });
    } else {
      res = await replayOrder(deps, key);
    }
    if (ctx.json) printJson(ctx, res);
    else {
      ctx.io.stdout.write(
        fields([
          ['order', res.key],
          ['outcome', res.outcome],
          ['state', res.state],
          [
            'released',
            res.released && `by ${res.released.by} at ${res.released.at}: ${res.released.note}`,
          ],
          ['result', res.message],
        ]),
      );
    }
    return EXIT_OF[res.outcome];
  },
});

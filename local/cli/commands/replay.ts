import { randomUUID } from 'node:crypto';
import type { PaymentsConfig } from '../../../functions/commons/config/payments.ts';
import { decide, deriveOrderId } from '../../../functions/commons/payments/catalog.ts';
import { creditPayment, orderSubject } from '../../../functions/commons/payments/topup.ts';
import type {
  PaymentDeps,
  PaymentSucceeded,
  ProviderId,
} from '../../../functions/commons/payments/types.ts';
import type {
  Ledger,
  Order,
  OrderKey,
  OrderState,
} from '../../../functions/commons/store/ledger.ts';
import { Decimal } from '../../../functions/commons/units.ts';
import type { DynamicTrafficApi } from '../../../functions/commons/upstream/types.ts';
import { defineCommand, expectPositionals, printJson } from '../command.ts';
import type { CliSink } from '../context.ts';
import { EXIT, NotFoundError } from '../errors.ts';
import { fields } from '../format.ts';
import { orderKeyText, parseOrderKey } from './orders.ts';

export interface ReplayDeps {
  ledger: Ledger;
  /** Asked for only when the order is replayable, so refusals work without an upstream. */
  upstream: () => Pick<DynamicTrafficApi, 'rechargeTrafficCount' | 'deductionFlow'>;
  sink: CliSink;
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
}

const REFUSED_STATES: Partial<Record<OrderState, string>> = {
  REJECTED: 'it was rejected (it does not match the catalog); it is never credited',
  HELD:
    'it is held for review (over a limit); a person decides, and the ledger has no operation ' +
    'to release a hold yet',
  FAILED_PERMANENT: 'the upstream refused it for good (e.g. not a channel customer)',
  PAYMENT_FAILED: 'the payment itself failed',
};

/** The paid event the order was recorded from, rebuilt from what the ledger kept. */
function eventOf(order: Order): PaymentSucceeded {
  return {
    type: 'payment-succeeded',
    paymentId: order.paymentId,
    amountMinor: order.amountMinor ?? 0,
    currency: order.currency ?? '',
    ...(order.customerId === undefined ? {} : { customerId: order.customerId }),
    ...(order.packageId === undefined ? {} : { packageId: order.packageId }),
    ...(order.quantity === undefined ? {} : { quantity: order.quantity }),
    ...(order.paymentIntentId ? { paymentIntentId: order.paymentIntentId } : {}),
  };
}

/**
 * Re-drives a stuck top-up through the webhook's own exactly-once path (`creditPayment`):
 * the order is reclaimed with a conditional write, so a concurrent delivery and the replay
 * never both call the upstream, and the call carries the order's `orderId`, which the
 * upstream applies at most once. Allowed for RECEIVED (a transient failure gave the lease
 * back) and CREDITING whose lease has expired (a crash mid-call). CREDITED is reported as
 * done; REJECTED, HELD, FAILED_PERMANENT and PAYMENT_FAILED are refused.
 */
export async function replayOrder(deps: ReplayDeps, key: OrderKey): Promise<ReplayResult> {
  const keyText = orderKeyText(key);
  const order = await deps.ledger.getOrder(key);
  if (!order) throw new NotFoundError(`no order ${keyText}`);
  const now = deps.clock();
  const result = (outcome: ReplayOutcome, state: OrderState | undefined, message: string) => ({
    outcome,
    key: keyText,
    state,
    message,
  });

  if (order.state === 'CREDITED') {
    return result(
      'already-credited',
      order.state,
      `already credited at ${order.creditedAt ?? '?'}; nothing sent`,
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

  // The webhook path decides from the catalog again: make sure it still agrees with the
  // order as recorded, so a changed catalog cannot credit a different amount.
  const event = eventOf(order);
  const decision = decide(event, deps.payments);
  if (decision.kind !== 'credit' || order.gb === undefined || !decision.gb.eq(order.gb)) {
    const why = decision.kind === 'credit' ? `${decision.gb.toFixed()} GB` : decision.detail;
    return result(
      'refused',
      order.state,
      `not replayed: the catalog no longer prices this order as recorded (${order.gb ?? '?'} GB; now: ${why})`,
    );
  }
  if (decision.gb.gt(new Decimal(deps.payments.monthlyCapGbPerCustomer))) {
    return result('refused', order.state, 'not replayed: the order is over the monthly cap');
  }
  const provider = order.provider as ProviderId;
  if (deriveOrderId(provider, order.paymentId) !== order.orderId) {
    return result(
      'refused',
      order.state,
      'not replayed: the stored orderId does not derive from the key',
    );
  }

  const paymentDeps: PaymentDeps = {
    ledger: deps.ledger,
    upstream: deps.upstream(),
    sink: deps.sink,
    clock: deps.clock,
    config: deps.payments,
    // creditPayment verifies nothing; webhook secrets are never needed here.
    getSecret: async () => undefined,
    newLeaseOwner: () => `cli-replay-${randomUUID()}`,
  };
  const outcome = await creditPayment(provider, event, paymentDeps);
  const after = await deps.ledger.getOrder(key);
  switch (outcome.result) {
    case 'credited':
    case 'already-credited': {
      // A top-up alert raised for this order is now settled.
      await deps.sink
        .resolve?.('topup-failed', orderSubject(key), 'Credited by a manual replay.')
        .catch(() => false);
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

const EXIT_OF: Record<ReplayOutcome, 0 | 1> = {
  credited: EXIT.ok,
  'already-credited': EXIT.ok,
  'in-progress': EXIT.failure,
  'retry-later': EXIT.failure,
  failed: EXIT.failure,
  refused: EXIT.failure,
};

export const replayCommand = defineCommand<{ key: OrderKey }>({
  name: 'replay',
  summary: 're-drive a stuck top-up through the same exactly-once path',
  usage: 'flowpilot replay <key> [--json]',
  details:
    'Replays RECEIVED orders and CREDITING orders whose lease expired; the upstream applies the\n' +
    "order's orderId at most once. CREDITED: nothing to do (exit 0). REJECTED, HELD,\n" +
    'FAILED_PERMANENT, PAYMENT_FAILED and a live lease are refused (exit 1); no order: exit 3.',
  options: {},
  parse(args) {
    const [key = ''] = expectPositionals(args, ['key']);
    return { key: parseOrderKey(key) };
  },
  async run({ key }, ctx) {
    const res = await replayOrder(
      {
        ledger: ctx.stores.ledger,
        upstream: () => ctx.upstream(),
        sink: ctx.sink,
        clock: ctx.clock,
        payments: ctx.config.payments,
      },
      key,
    );
    if (ctx.json) printJson(ctx, res);
    else {
      ctx.io.stdout.write(
        fields([
          ['order', res.key],
          ['outcome', res.outcome],
          ['state', res.state],
          ['result', res.message],
        ]),
      );
    }
    return EXIT_OF[res.outcome];
  },
});

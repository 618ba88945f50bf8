import { money } from '../../../functions/commons/money.ts';
import type {
  DeductionPart,
  Order,
  OrderKey,
} from '../../../functions/commons/payments/ledger/ledger.ts';
import {
  DEDUCTION_STATES,
  isDeductionState,
  isOrderState,
  ORDER_STATES,
  orderKeyFromPk,
  type PartOfOrder,
} from '../../../functions/commons/payments/ledger/ledger-read.ts';
import {
  defineCommand,
  expectPositionals,
  positiveIntOption,
  printJson,
  stringOption,
} from '../command.ts';
import type { CommandContext } from '../context.ts';
import { EXIT, NotFoundError, UsageError } from '../errors.ts';
import { fields, shortTime, table } from '../format.ts';

const KEY_HELP =
  'an order key is provider:paymentId (e.g. stripe:cs_test_1) or ORDER#provider#paymentId';

/** `stripe:cs_1` or `ORDER#stripe#cs_1`; the payment id may contain `:` or `#`. */
export function parseOrderKey(text: string): OrderKey {
  const key = text.startsWith('ORDER#')
    ? orderKeyFromPk(text)
    : (() => {
        const cut = text.indexOf(':');
        if (cut <= 0 || cut === text.length - 1) return undefined;
        return { provider: text.slice(0, cut), paymentId: text.slice(cut + 1) };
      })();
  if (!key || !/^[a-z][a-z0-9-]*$/.test(key.provider)) {
    throw new UsageError(`not an order key: ${JSON.stringify(text)}; ${KEY_HELP}`);
  }
  return key;
}

export const orderKeyText = (k: OrderKey) => `${k.provider}:${k.paymentId}`;

const gb = (text: string | undefined) => (text === undefined ? '-' : `${text} GB`);
/** Minor units in the store and in --json (`amountMinor`); major units with the currency here. */
const amount = (o: Pick<Order, 'amountMinor' | 'currency'>) =>
  o.amountMinor === undefined
    ? '-'
    : o.currency
      ? money(o.amountMinor, o.currency)
      : `${o.amountMinor} (minor units)`;

function ordersTable(orders: readonly Order[]): string {
  return table(orders, [
    { header: 'KEY', value: (o) => orderKeyText(o) },
    { header: 'STATE', value: (o) => o.state },
    { header: 'CUSTOMER', value: (o) => o.customerId ?? '-' },
    { header: 'GB', value: (o) => o.gb ?? '-', align: 'right' },
    { header: 'AMOUNT', value: amount, align: 'right' },
    { header: 'UPDATED', value: (o) => shortTime(o.updatedAt) },
    { header: 'REASON', value: (o) => o.reason ?? o.lastError ?? '' },
  ]);
}

function partsTable(parts: readonly (DeductionPart & { order?: OrderKey })[]): string {
  return table(parts, [
    ...(parts.some((p) => p.order)
      ? [
          {
            header: 'ORDER',
            value: (p: (typeof parts)[number]) => (p.order ? orderKeyText(p.order) : ''),
          },
        ]
      : []),
    { header: 'PART', value: (p) => p.partId },
    { header: 'KIND', value: (p) => p.kind },
    { header: 'STATE', value: (p) => p.state },
    { header: 'GB', value: (p) => p.gb, align: 'right' },
    { header: 'UPDATED', value: (p) => shortTime(p.updatedAt) },
    { header: 'NOTE', value: (p) => p.error ?? p.reason ?? p.upstreamMessage ?? '' },
  ]);
}

type OrdersArgs = { state: string | undefined; limit: number };

/** Orders in one state (or every state), most recently changed first. */
export async function listOrders(
  ctx: Pick<CommandContext, 'stores'>,
  args: OrdersArgs,
): Promise<{ orders: Order[]; parts: PartOfOrder[] }> {
  const reader = ctx.stores.ledgerRead;
  if (args.state && isDeductionState(args.state)) {
    return { orders: [], parts: await reader.partsInState(args.state, args.limit) };
  }
  const states = args.state && isOrderState(args.state) ? [args.state] : ORDER_STATES;
  const lists = await Promise.all(states.map((s) => reader.ordersInState(s, args.limit)));
  const orders = lists
    .flat()
    .sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))
    .slice(0, args.limit);
  return { orders, parts: [] };
}

export const ordersCommand = defineCommand<OrdersArgs>({
  name: 'orders',
  summary: 'list orders, newest change first, optionally in one state',
  usage: 'flowpilot orders [--state STATE] [--limit N] [--json]',
  details:
    `order states: ${ORDER_STATES.join(', ')}\n` +
    `deduction states (lists refund / dispute parts instead): ${DEDUCTION_STATES.join(', ')}\n` +
    '--limit: at most N rows (default 50, at most 1000)',
  options: { state: { type: 'string' }, limit: { type: 'string' } },
  parse(args) {
    expectPositionals(args, []);
    const raw = stringOption(args, 'state');
    const state = raw?.toUpperCase();
    if (state !== undefined && !isOrderState(state) && !isDeductionState(state)) {
      throw new UsageError(
        `--state must be one of ${[...ORDER_STATES, ...DEDUCTION_STATES].join(', ')}; got ${JSON.stringify(raw)}`,
      );
    }
    return { state, limit: positiveIntOption(args, 'limit', 50, 1000) };
  },
  async run(args, ctx) {
    const { orders, parts } = await listOrders(ctx, args);
    if (ctx.json) {
      printJson(ctx, args.state && isDeductionState(args.state) ? { parts } : { orders });
    } else if (args.state && isDeductionState(args.state)) {
      ctx.io.stdout.write(partsTable(parts));
    } else {
      ctx.io.stdout.write(ordersTable(orders));
    }
    return EXIT.ok;
  },
});

export const orderCommand = defineCommand<{ key: OrderKey }>({
  name: 'order',
  summary: 'one order and its refund / dispute deductions',
  usage: 'flowpilot order <key> [--json]',
  details: `${KEY_HELP}\nexit 3 when there is no such order`,
  options: {},
  parse(args) {
    const [key = ''] = expectPositionals(args, ['key']);
    return { key: parseOrderKey(key) };
  },
  async run({ key }, ctx) {
    const found = await ctx.stores.ledgerRead.orderWithParts(key);
    if (!found) throw new NotFoundError(`no order ${orderKeyText(key)}`);
    const { order, parts } = found;
    if (ctx.json) {
      printJson(ctx, { order, parts });
      return EXIT.ok;
    }
    const lease =
      order.leaseUntil === undefined
        ? undefined
        : `${order.leaseOwner ?? '?'} until ${shortTime(new Date(order.leaseUntil).toISOString())}`;
    ctx.io.stdout.write(
      fields([
        ['order', orderKeyText(order)],
        ['state', order.state],
        ['reason', order.reason],
        ['upstream orderId', order.orderId],
        ['customer', order.customerId],
        ['package', order.packageId && `${order.packageId} x ${order.quantity ?? 1}`],
        ['credit', gb(order.gb)],
        ['paid', amount(order)],
        ['created', shortTime(order.createdAt)],
        ['updated', shortTime(order.updatedAt)],
        ['credited', order.creditedAt && shortTime(order.creditedAt)],
        ['attempts', String(order.attempts ?? 0)],
        ['lease', lease],
        [
          'upstream said',
          order.upstreamCode === undefined
            ? undefined
            : `${order.upstreamCode} ${order.upstreamMessage ?? ''}`.trim(),
        ],
        ['last error', order.lastError],
        [
          'refunded',
          order.refundedMinor
            ? amount({ amountMinor: order.refundedMinor, currency: order.currency })
            : undefined,
        ],
        [
          'deducted',
          order.deductedGb && order.deductedGb !== '0' ? gb(order.deductedGb) : undefined,
        ],
      ]),
    );
    ctx.io.stdout.write(`\ndeductions (${parts.length}):\n${partsTable(parts)}`);
    return EXIT.ok;
  },
});

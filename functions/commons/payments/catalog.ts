import { hash } from 'node:crypto';
import type { PaymentsConfig } from '../config/payments.ts';
import { canonicalCustomerId } from '../customer-id.ts';
import { money } from '../money.ts';
import { Decimal, dayInZone } from '../units.ts';
import type { PaymentSucceeded, ProviderId } from './types.ts';

export type RejectReason =
  | 'unknown-package'
  | 'amount-mismatch'
  | 'invalid-quantity'
  | 'invalid-customer'
  | 'no-refund-path';

export interface OrderFacts {
  customerId?: string;
  packageId?: string;
  quantity?: number;
  gb?: Decimal;
}

export type Decision =
  | (OrderFacts & { kind: 'credit'; customerId: string; gb: Decimal })
  | (OrderFacts & { kind: 'reject'; reason: RejectReason; detail: string })
  | (OrderFacts & {
      kind: 'hold';
      reason: 'order-max' | 'no-payment-required';
      detail: string;
      gb: Decimal;
    });

const QUANTITY_TEXT = /^\d{1,9}$/;
const GB_TEXT = /^\d{1,9}(\.\d{1,6})?$/;

/** Decimals of configuration text (package GB, limits), parsed once per container. */
const configDecimals = new Map<string, Decimal>();

/**
 * The Decimal of a configuration amount. Keyed on the text itself, so a changed configuration
 * finds its own value, never a stale one; Decimals are immutable, so one may be shared.
 */
export function configDecimal(text: string): Decimal {
  let d = configDecimals.get(text);
  if (d === undefined) {
    d = new Decimal(text);
    // Bounded: configuration holds a handful of amounts; anything more is simply not kept.
    if (configDecimals.size < 256) configDecimals.set(text, d);
  }
  return d;
}

/** 1 when absent; otherwise a whole number from 1 to `max`, as a number or plain digits. */
export function parseQuantity(raw: unknown, max: number): number | undefined {
  if (raw === undefined || raw === null || raw === '') return 1;
  let n: number;
  if (typeof raw === 'number') n = raw;
  else if (typeof raw === 'string' && QUANTITY_TEXT.test(raw.trim())) n = Number(raw.trim());
  else return undefined;
  return Number.isSafeInteger(n) && n >= 1 && n <= max ? n : undefined;
}

/** `subtotal` ÷ `price` when it is a whole number from 1 to `max`. */
export function quantityOfSubtotal(subtotal: number, price: number, max: number) {
  if (subtotal <= 0 || subtotal % price !== 0) return undefined;
  const n = subtotal / price;
  return n <= max ? n : undefined;
}

/**
 * What a paid order is worth, from the catalog alone: the event never says how many GB to
 * credit. The amount before tax and discounts (Stripe `amount_subtotal`; else the amount
 * paid) must equal price × quantity in the package's currency.
 */
export function decide(ev: PaymentSucceeded, config: PaymentsConfig): Decision {
  const facts: OrderFacts = {};
  const customerId = canonicalCustomerId(ev.customerId);
  if (customerId !== undefined) facts.customerId = customerId;
  // Own keys only: `__proto__` or `constructor` must not find a package.
  const pkg =
    ev.packageId !== undefined && Object.hasOwn(config.catalog, ev.packageId)
      ? config.catalog[ev.packageId]
      : undefined;
  if (pkg && ev.packageId !== undefined) facts.packageId = ev.packageId;
  // Without a quantity in metadata (Stripe: adjustable quantity, Payment Links), the line
  // items' subtotal says how many: taken when it is a whole number of the package's price.
  const fromSubtotal =
    ev.quantity === undefined && ev.subtotalMinor !== undefined && pkg !== undefined;
  const quantity = fromSubtotal
    ? quantityOfSubtotal(ev.subtotalMinor ?? 0, pkg.price, config.maxQuantity)
    : parseQuantity(ev.quantity, config.maxQuantity);
  if (quantity !== undefined) facts.quantity = quantity;

  if (ev.noRefundPath !== undefined) {
    return { ...facts, kind: 'reject', reason: 'no-refund-path', detail: ev.noRefundPath };
  }
  if (!facts.customerId) {
    return {
      ...facts,
      kind: 'reject',
      reason: 'invalid-customer',
      detail: 'no usable customer id',
    };
  }
  if (ev.charged) {
    return decideCharged(ev, ev.charged, { ...facts, customerId: facts.customerId }, config);
  }
  if (!pkg) {
    const detail = `package ${JSON.stringify(ev.packageId ?? null).slice(0, 80)} is not in the catalog`;
    return { ...facts, kind: 'reject', reason: 'unknown-package', detail };
  }
  if (quantity === undefined && fromSubtotal) {
    const detail = `subtotal ${ev.subtotalMinor} ${ev.currency} is not a whole number (1-${config.maxQuantity}) of the price ${pkg.price} ${pkg.currency}`;
    return { ...facts, kind: 'reject', reason: 'amount-mismatch', detail };
  }
  if (quantity === undefined) {
    const detail = `quantity must be 1-${config.maxQuantity}`;
    return { ...facts, kind: 'reject', reason: 'invalid-quantity', detail };
  }
  const unitGb = configDecimal(pkg.gb);
  const gb = quantity === 1 ? unitGb : unitGb.mul(quantity);
  facts.gb = gb;
  const expected = pkg.price * quantity;
  // Tax and discounts change what was charged, not what was bought: the catalog is matched
  // against the amount before them.
  const priced = ev.subtotalMinor ?? ev.amountMinor;
  if (ev.currency !== pkg.currency || priced !== expected) {
    const what = ev.subtotalMinor === undefined ? 'paid' : 'subtotal';
    const detail = `${what} ${money(priced, ev.currency)}, expected ${money(expected, pkg.currency)}`;
    return { ...facts, kind: 'reject', reason: 'amount-mismatch', detail };
  }
  if (gb.gt(configDecimal(config.maxGbPerOrder))) {
    const detail = `${gb.toFixed()} GB is over the per-order maximum of ${config.maxGbPerOrder} GB`;
    return { ...facts, kind: 'hold', reason: 'order-max', detail, gb };
  }
  if (ev.noPaymentRequired && config.stripe.noPaymentRequired === 'hold') {
    const detail = 'nothing was charged (a 100 % discount); credit it by hand if it is meant';
    return { ...facts, kind: 'hold', reason: 'no-payment-required', detail, gb };
  }
  const credit: Decision = { kind: 'credit', customerId: facts.customerId, gb };
  if (facts.packageId !== undefined) credit.packageId = facts.packageId;
  if (facts.quantity !== undefined) credit.quantity = facts.quantity;
  return credit;
}

/**
 * An auto top-up against what its episode charged: the amount received must be the amount
 * FlowPilot asked for, and the GB are those the episode sold, whatever the catalog says now.
 */
function decideCharged(
  ev: PaymentSucceeded,
  terms: NonNullable<PaymentSucceeded['charged']>,
  facts: OrderFacts & { customerId: string },
  config: PaymentsConfig,
): Decision {
  const gb = GB_TEXT.test(terms.gb) ? new Decimal(terms.gb) : undefined;
  if (!gb || gb.lte(0)) {
    const detail = `GB ${JSON.stringify(terms.gb).slice(0, 40)} is not a positive amount`;
    return { ...facts, kind: 'reject', reason: 'invalid-quantity', detail };
  }
  facts.gb = gb;
  if (ev.currency !== terms.currency || ev.amountMinor !== terms.amountMinor) {
    const detail = `paid ${money(ev.amountMinor, ev.currency)}, charged for ${money(terms.amountMinor, terms.currency)}`;
    return { ...facts, kind: 'reject', reason: 'amount-mismatch', detail };
  }
  if (gb.gt(configDecimal(config.maxGbPerOrder))) {
    const detail = `${gb.toFixed()} GB is over the per-order maximum of ${config.maxGbPerOrder} GB`;
    return { ...facts, kind: 'hold', reason: 'order-max', detail, gb };
  }
  return { ...facts, kind: 'credit', gb };
}

/**
 * The upstream `orderId`: the same payment always gives the same id, whatever event or retry
 * carried it; 32 hex characters fit the upstream's [A-Za-z0-9] and length limits.
 */
export function deriveOrderId(provider: ProviderId, paymentId: string): string {
  return hash('sha256', `${provider}:${paymentId}`).slice(0, 32);
}

/** The last month asked per zone, for the minute it was asked in. */
const lastMonths = new Map<string, { minute: number; month: string }>();

/**
 * The `yyyy-MM` the monthly cap counts an order in. Remembered per zone for the minute it
 * was asked in: zone offsets fall on whole minutes (see units.ts `offsetMsCached`), so a
 * month never turns within one, and every delivery asks.
 */
export function capMonth(now: Date, zone: string): string {
  const minute = Math.floor(now.getTime() / 60_000);
  const hit = lastMonths.get(zone);
  if (hit !== undefined && hit.minute === minute) return hit.month;
  const month = dayInZone(now, zone).slice(0, 7);
  lastMonths.set(zone, { minute, month });
  return month;
}

/**
 * GB to have deducted once `coveredMinor` of `paidMinor` is refunded or disputed: credited GB
 * × fraction, rounded down to 0.01 GB. Computed on the cumulative total so that partial
 * refunds add up to exactly the credited GB.
 */
export function gbToDeduct(creditedGb: Decimal.Value, coveredMinor: number, paidMinor: number) {
  if (paidMinor <= 0) return new Decimal(0);
  const covered = Math.min(coveredMinor, paidMinor);
  // Integer arithmetic in hundredths of a GB: exact at any size, and BigInt division floors.
  const centiGb = BigInt(
    new Decimal(creditedGb).mul(100).toDecimalPlaces(0, Decimal.ROUND_DOWN).toFixed(),
  );
  const share = (centiGb * BigInt(covered)) / BigInt(paidMinor);
  return new Decimal(share.toString()).div(100);
}

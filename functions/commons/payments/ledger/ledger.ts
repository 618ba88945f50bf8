import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { MonthAmount, MonthCap } from './ledger-caps.ts';
import type { CreditInRange, OrderKey, PaidNotCredited } from './ledger-items.ts';
import {
  type CreateOrderResult,
  type Lease,
  type MarkFailedOptions,
  type NewOrder,
  type Order,
  OrderStore,
  type TakePending,
} from './ledger-orders.ts';
import {
  type ClaimDeductionResult,
  type DeductionPart,
  type PartInput,
  PartStore,
  type Pending,
  type PendingEntry,
  type PendingGuard,
} from './ledger-parts.ts';
import type { FailedRefund, RefundCounters } from './refund-counters.ts';

/**
 * The top-up ledger (README "Data model"): orders (`ledger-orders.ts`), their refund parts
 * and pending refunds (`ledger-parts.ts`) and the monthly cap counters (`ledger-caps.ts`),
 * one aggregate per file; this module is the one interface the payments domain sees. Every
 * conditional write that can lose a race returns the item that won, so callers decide from
 * one request; where an engine leaves the item out, one read stands in.
 */

export type { MonthCap } from './ledger-caps.ts';
export { ledgerKeys, type OrderKey } from './ledger-items.ts';
export type {
  CreateOrderResult,
  Lease,
  NewOrder,
  Order,
  OrderState,
  TakePending,
} from './ledger-orders.ts';
export type {
  ClaimDeductionResult,
  DeductionPart,
  DeductionState,
  PartInput,
  PartKind,
  Pending,
  PendingEntry,
  PendingGuard,
} from './ledger-parts.ts';
export type { FailedRefund, RefundCounters } from './refund-counters.ts';

/** What the payments domain needs from storage; `DynamoLedger` is the one implementation. */
export interface Ledger {
  createOrder(
    order: NewOrder,
    opts: { now: Date; lease?: Lease; monthCap?: MonthCap; pending?: TakePending },
  ): Promise<CreateOrderResult>;
  /** Takes the lease of an order that is RECEIVED or whose lease has expired. */
  reclaim(
    key: OrderKey,
    opts: { now: Date; lease: Lease },
  ): Promise<{ claimed: true; order: Order } | { claimed: false; existing: Order | undefined }>;
  /**
   * RECEIVED/CREDITING → CREDITED. `refundsDuringCredit`: refunds or disputes were recorded
   * while it was being credited (apply them now); false too when another marked it first.
   */
  markCredited(
    key: OrderKey,
    opts: { now: Date; code: number; message: string },
  ): Promise<{ refundsDuringCredit: boolean }>;
  /** Gives the lease back after a transient failure so the provider's retry can go at once. */
  release(key: OrderKey, opts: { now: Date; owner: string; error: string }): Promise<void>;
  /**
   * An operator lets a HELD order be credited: HELD → RECEIVED (then `reclaim` and the usual
   * call), recording who, when and why. The operator overrides the limits, so the cap is not
   * checked, but the GB are added to `monthCap.month`'s counter so later orders count them
   * (and a permanent failure gives them back, as for any order). The order must still be as
   * the operator saw it: same customer and GB, and same `version` (no refund part since).
   */
  releaseHeld(
    key: OrderKey,
    opts: { now: Date; by: string; note: string; version: number; monthCap: MonthAmount },
  ): Promise<{ released: true } | { released: false; existing: Order | undefined }>;
  /** Ends the order for good and gives its GB back to the month's cap counter. */
  markFailed(key: OrderKey, opts: MarkFailedOptions): Promise<void>;
  getOrder(key: OrderKey): Promise<Order | undefined>;
  /** Notes a newer report of the refunds it holds; false when the order moved meanwhile. */
  noteRefundReport(
    key: OrderKey,
    opts: { refundedMinor: number; total: number; version: number; at: number; now: Date },
  ): Promise<boolean>;
  findByPaymentIntent(paymentIntentId: string): Promise<Order | undefined>;
  /** Paid orders still landing (RECEIVED or CREDITING) changed in [from, to]. */
  listPaidNotCredited(from: Date, to: Date): Promise<PaidNotCredited[]>;
  /** Claims a part and moves the order's counters in one transaction (CREDITED orders only). */
  claimDeduction(input: {
    key: OrderKey;
    part: PartInput;
    expect: { refundedMinor: number; deductedMinor: number; version: number };
    next: RefundCounters & { refundsResetAt?: number; failedRefunds?: FailedRefund[] };
    now: Date;
  }): Promise<ClaimDeductionResult>;
  getPart(key: OrderKey, partId: string): Promise<DeductionPart | undefined>;
  /** Every part of an order (one page: an order has a handful). */
  listParts(key: OrderKey): Promise<DeductionPart[]>;
  /** Records a part that deducts nothing (order never credited, currency mismatch). */
  recordPart(
    key: OrderKey,
    part: PartInput,
    now: Date,
  ): Promise<{ created: true } | { created: false; part: DeductionPart | undefined }>;
  settleDeduction(
    key: OrderKey,
    partId: string,
    result: {
      state: 'DEDUCTED' | 'UNKNOWN' | 'FAILED';
      now: Date;
      code?: number;
      message?: string;
      error?: string;
    },
  ): Promise<void>;
  /** Notes that a HELD, FAILED_PERMANENT or REJECTED order raised its alert. */
  markOrderAlerted(key: OrderKey, now: Date): Promise<void>;
  /** Notes that a part handed to a person raised its alert. */
  markAlerted(key: OrderKey, partId: string, now: Date): Promise<void>;
  /** Ends a reversal part once the upstream credited it back. */
  settleReversal(
    key: OrderKey,
    partId: string,
    result: { now: Date; code: number; message: string },
  ): Promise<void>;
  /** Refunds and disputes recorded for a payment reference (`pi:…`, `pay:…`) not yet taken. */
  getPending(provider: string, ref: string): Promise<Pending>;
  /**
   * Records a refund or dispute for later, if `guard` still holds; `false` when it no longer
   * does (the order appeared or finished crediting meanwhile: apply the refund now).
   */
  recordPending(input: {
    provider: string;
    ref: string;
    entry: PendingEntry;
    guard: PendingGuard;
    now: Date;
  }): Promise<boolean>;
  /** Forgets pending entries once they were applied to their order. */
  clearPending(provider: string, ref: string, partIds: readonly string[], now: Date): Promise<void>;
}

export class DynamoLedger implements Ledger {
  private readonly orders: OrderStore;
  private readonly parts: PartStore;

  constructor(doc: DynamoDBDocumentClient, tableName: string) {
    this.orders = new OrderStore(doc, tableName);
    this.parts = new PartStore(doc, tableName);
  }

  createOrder(
    order: NewOrder,
    opts: { now: Date; lease?: Lease; monthCap?: MonthCap; pending?: TakePending },
  ) {
    return this.orders.createOrder(order, opts);
  }

  reclaim(key: OrderKey, opts: { now: Date; lease: Lease }) {
    return this.orders.reclaim(key, opts);
  }

  markCredited(key: OrderKey, opts: { now: Date; code: number; message: string }) {
    return this.orders.markCredited(key, opts);
  }

  release(key: OrderKey, opts: { now: Date; owner: string; error: string }) {
    return this.orders.release(key, opts);
  }

  releaseHeld(
    key: OrderKey,
    opts: { now: Date; by: string; note: string; version: number; monthCap: MonthAmount },
  ) {
    return this.orders.releaseHeld(key, opts);
  }

  markFailed(key: OrderKey, opts: MarkFailedOptions) {
    return this.orders.markFailed(key, opts);
  }

  getOrder(key: OrderKey) {
    return this.orders.getOrder(key);
  }

  findByPaymentIntent(paymentIntentId: string) {
    return this.orders.findByPaymentIntent(paymentIntentId);
  }

  noteRefundReport(
    key: OrderKey,
    opts: { refundedMinor: number; total: number; version: number; at: number; now: Date },
  ) {
    return this.orders.noteRefundReport(key, opts);
  }

  /** Credits in [from, to] for the reconciliation: orders, and reversals credited back. */
  async listCredited(from: Date, to: Date): Promise<CreditInRange[]> {
    const [orders, reversals] = await Promise.all([
      this.orders.listCredited(from, to),
      this.parts.listRecredited(from, to),
    ]);
    return [...orders, ...reversals];
  }

  listPaidNotCredited(from: Date, to: Date) {
    return this.orders.listPaidNotCredited(from, to);
  }

  claimDeduction(input: {
    key: OrderKey;
    part: PartInput;
    expect: { refundedMinor: number; deductedMinor: number; version: number };
    next: RefundCounters & { refundsResetAt?: number; failedRefunds?: FailedRefund[] };
    now: Date;
  }) {
    return this.parts.claimDeduction(input);
  }

  recordPart(key: OrderKey, part: PartInput, now: Date) {
    return this.parts.recordPart(key, part, now);
  }

  getPart(key: OrderKey, partId: string) {
    return this.parts.getPart(key, partId);
  }

  listParts(key: OrderKey) {
    return this.parts.listParts(key);
  }

  settleDeduction(
    key: OrderKey,
    partId: string,
    result: {
      state: 'DEDUCTED' | 'UNKNOWN' | 'FAILED';
      now: Date;
      code?: number;
      message?: string;
      error?: string;
    },
  ) {
    return this.parts.settle(key, partId, { ...result, from: 'DEDUCTING' });
  }

  markOrderAlerted(key: OrderKey, now: Date) {
    return this.orders.markAlerted(key, now);
  }

  markAlerted(key: OrderKey, partId: string, now: Date) {
    return this.parts.markAlerted(key, partId, now);
  }

  settleReversal(
    key: OrderKey,
    partId: string,
    result: { now: Date; code: number; message: string },
  ) {
    return this.parts.settle(key, partId, { ...result, from: 'RECREDITING', state: 'RECREDITED' });
  }

  getPending(provider: string, ref: string) {
    return this.parts.getPending(provider, ref);
  }

  recordPending(input: {
    provider: string;
    ref: string;
    entry: PendingEntry;
    guard: PendingGuard;
    now: Date;
  }) {
    return this.parts.recordPending(input);
  }

  clearPending(provider: string, ref: string, partIds: readonly string[], now: Date) {
    return this.parts.clearPending(provider, ref, partIds, now);
  }
}

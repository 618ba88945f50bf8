import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Decimal } from '../units.ts';
import { StoreError, storeCall } from './errors.ts';
import {
  addToMonth,
  addWithinCap,
  giveBackToMonth,
  type MonthAmount,
  type MonthCap,
} from './ledger-caps.ts';
import {
  cancellationReasons,
  ledgerKeys,
  type OrderKey,
  oldItem,
  optionalSets,
  stateIndex,
  type TxItems,
} from './ledger-items.ts';
import {
  type Lease,
  type NewOrder,
  type Order,
  OrderStore,
  type RefundCounters,
  toOrder,
  versionIs,
} from './ledger-orders.ts';
import {
  type DeductionPart,
  type PartInput,
  PartStore,
  type Pending,
  type PendingEntry,
  partItem,
  pendingEntrySk,
  toPart,
} from './ledger-parts.ts';

/**
 * The top-up ledger (README "Data model"): orders (`ledger-orders.ts`), their refund parts
 * and pending refunds (`ledger-parts.ts`) and the monthly cap counters (`ledger-caps.ts`).
 * This module holds the writes that span them, each one DynamoDB transaction. Every
 * conditional write that can lose a race returns the item that won, so callers decide from
 * one request; where an engine leaves the item out, one read stands in.
 */

export type { MonthCap } from './ledger-caps.ts';
export { ledgerKeys, type OrderKey } from './ledger-items.ts';
export type {
  Lease,
  NewOrder,
  Order,
  OrderState,
  RefundCounters,
} from './ledger-orders.ts';
export type {
  DeductionPart,
  DeductionState,
  PartInput,
  PartKind,
  Pending,
  PendingEntry,
} from './ledger-parts.ts';

/** What an order takes from the refunds recorded before it (see `getPending`). */
export interface TakePending {
  provider: string;
  ref: string;
  /** The version read; the order is written only if no refund was recorded since. */
  version: number;
  entries: PendingEntry[];
  /** The parts the entries become on the order. */
  parts: PartInput[];
  counters: RefundCounters;
}

export type CreateOrderResult =
  | { outcome: 'created'; order: Order }
  | { outcome: 'exists'; existing: Order }
  | { outcome: 'cap-exceeded' }
  /** A refund or dispute was recorded for this payment since `pending` was read. */
  | { outcome: 'pending-changed' }
  /** Another transaction was writing the same items; nothing was written. */
  | { outcome: 'conflict' };

export type ClaimDeductionResult =
  | { outcome: 'claimed' }
  | { outcome: 'part-exists'; part: DeductionPart }
  /** The order's counters moved since they were read (or it is no longer CREDITED). */
  | { outcome: 'order-changed' }
  | { outcome: 'conflict' };

/** What must still hold for a pending refund to be recorded instead of applied. */
export type PendingGuard =
  /** Nothing knows the payment yet: no order item (standard, epay) … */
  | { orderAbsent: OrderKey }
  /** … or no PaymentIntent pointer (Stripe). */
  | { paymentIntentAbsent: string }
  /** The order is still being credited (RECEIVED or CREDITING). */
  | { orderCrediting: OrderKey };

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
  markFailed(
    key: OrderKey,
    opts: {
      now: Date;
      owner: string;
      reason: string;
      code?: number;
      message?: string;
      monthGiveBack?: MonthAmount;
    },
  ): Promise<void>;
  getOrder(key: OrderKey): Promise<Order | undefined>;
  findByPaymentIntent(paymentIntentId: string): Promise<Order | undefined>;
  /** Claims a part and moves the order's counters in one transaction (CREDITED orders only). */
  claimDeduction(input: {
    key: OrderKey;
    part: PartInput;
    expect: { refundedMinor: number; deductedMinor: number };
    next: RefundCounters & { refundsResetAt?: number };
    now: Date;
  }): Promise<ClaimDeductionResult>;
  getPart(key: OrderKey, partId: string): Promise<DeductionPart | undefined>;
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
  clearPending(provider: string, ref: string, partIds: readonly string[]): Promise<void>;
}

/** Attempts of a transaction that DynamoDB cancelled for a conflict with another one. */
const CONFLICT_ROUNDS = 3;

export class DynamoLedger implements Ledger {
  private readonly orders: OrderStore;
  private readonly parts: PartStore;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {
    this.orders = new OrderStore(doc, tableName);
    this.parts = new PartStore(doc, tableName);
  }

  async createOrder(
    order: NewOrder,
    opts: { now: Date; lease?: Lease; monthCap?: MonthCap; pending?: TakePending },
  ): Promise<CreateOrderResult> {
    const at = opts.now.toISOString();
    const counters = opts.pending?.counters ?? {
      refundedMinor: 0,
      deductedMinor: 0,
      deductedGb: '0',
    };
    const item = {
      ...ledgerKeys.order(order),
      ...stateIndex(order.state, at),
      ...order,
      ...(opts.lease ? { leaseOwner: opts.lease.owner, leaseUntil: opts.lease.until } : {}),
      ...(opts.monthCap ? { capMonth: opts.monthCap.month } : {}),
      attempts: opts.lease ? 1 : 0,
      createdAt: at,
      updatedAt: at,
      ...counters,
      version: opts.pending?.parts.length ? 1 : 0,
    };
    const items: TxItems = [
      {
        Put: {
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      },
    ];
    const capIndex = opts.monthCap
      ? items.push(addWithinCap(this.tableName, opts.monthCap, at)) - 1
      : -1;
    if (order.paymentIntentId) {
      items.push({
        Put: {
          TableName: this.tableName,
          Item: {
            ...ledgerKeys.paymentIntent(order.paymentIntentId),
            provider: order.provider,
            paymentId: order.paymentId,
          },
        },
      });
    }
    const headIndex = opts.pending ? items.length : -1;
    if (opts.pending) items.push(...this.takePending(order, opts.pending, at));
    for (let round = 1; ; round++) {
      const res = await this.tryCreate(order, items, { capIndex, headIndex });
      // Conflicts with other orders' transactions on the shared month counter clear quickly.
      if (res.outcome !== 'conflict' || round >= CONFLICT_ROUNDS) {
        return res.outcome === 'created' ? { outcome: 'created', order: toOrder(item) } : res;
      }
      await new Promise((r) => setTimeout(r, 10 * round + Math.random() * 20));
    }
  }

  /** The pending head checked at the version read, its entries deleted, the parts written. */
  private takePending(key: OrderKey, take: TakePending, at: string): TxItems {
    const head = ledgerKeys.pending(take.provider, take.ref);
    const v = versionIs(take.version);
    const items: TxItems = [
      take.version === 0
        ? {
            ConditionCheck: {
              TableName: this.tableName,
              Key: head,
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          }
        : {
            Delete: {
              TableName: this.tableName,
              Key: head,
              ConditionExpression: v.condition,
              ExpressionAttributeNames: v.names,
              ExpressionAttributeValues: v.values,
            },
          },
    ];
    for (const entry of take.entries) {
      items.push({
        Delete: {
          TableName: this.tableName,
          Key: { pk: head.pk, sk: pendingEntrySk(entry.partId) },
        },
      });
    }
    for (const part of take.parts) {
      items.push({ Put: { TableName: this.tableName, Item: partItem(key, part, at) } });
    }
    return items;
  }

  private async tryCreate(
    key: OrderKey,
    items: TxItems,
    at: { capIndex: number; headIndex: number },
  ): Promise<CreateOrderResult | { outcome: 'created' }> {
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: items }));
      return { outcome: 'created' };
    } catch (err) {
      const reasons = cancellationReasons(err);
      if (!reasons)
        throw new StoreError('DynamoDB createOrder failed', 'ledger.createOrder', { cause: err });
      const orderReason = reasons[0];
      if (orderReason?.Code === 'ConditionalCheckFailed') {
        const existing = oldItem(orderReason.Item);
        if (existing) return { outcome: 'exists', existing: toOrder(existing) };
        const read = await this.getOrder(key);
        return read ? { outcome: 'exists', existing: read } : { outcome: 'conflict' };
      }
      if (reasons[at.capIndex]?.Code === 'ConditionalCheckFailed') {
        return { outcome: 'cap-exceeded' };
      }
      if (reasons[at.headIndex]?.Code === 'ConditionalCheckFailed') {
        return { outcome: 'pending-changed' };
      }
      if (reasons.some((r) => r.Code === 'TransactionConflict')) return { outcome: 'conflict' };
      throw new StoreError('DynamoDB createOrder was cancelled', 'ledger.createOrder', {
        cause: err,
        retryable: true,
      });
    }
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

  async releaseHeld(
    key: OrderKey,
    opts: { now: Date; by: string; note: string; version: number; monthCap: MonthAmount },
  ): Promise<{ released: true } | { released: false; existing: Order | undefined }> {
    const at = opts.now.toISOString();
    const cap = opts.monthCap;
    const v = versionIs(opts.version);
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: ledgerKeys.order(key),
                UpdateExpression:
                  'SET #state = :received, capMonth = :month, releasedAt = :at, ' +
                  'releasedBy = :by, releaseNote = :note, updatedAt = :at, gsi1pk = :gsi1pk, ' +
                  'gsi1sk = :at ADD #version :one',
                ConditionExpression: `#state = :held AND customerId = :customer AND gb = :gb AND ${v.condition}`,
                ExpressionAttributeNames: { '#state': 'state', ...v.names },
                ExpressionAttributeValues: {
                  ':received': 'RECEIVED',
                  ':held': 'HELD',
                  ':month': cap.month,
                  ':at': at,
                  ':by': opts.by,
                  ':note': opts.note,
                  ':gsi1pk': 'ORDERS#RECEIVED',
                  ':customer': cap.customerId,
                  ':gb': cap.gb,
                  ':one': 1,
                  ...v.values,
                },
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
            addToMonth(this.tableName, cap, at),
          ],
        }),
      );
      return { released: true };
    } catch (err) {
      const orderReason = cancellationReasons(err)?.[0];
      if (orderReason?.Code !== 'ConditionalCheckFailed') {
        throw new StoreError('DynamoDB releaseHeld failed', 'ledger.releaseHeld', { cause: err });
      }
      const existing = oldItem(orderReason.Item);
      return { released: false, existing: existing ? toOrder(existing) : await this.getOrder(key) };
    }
  }

  async markFailed(
    key: OrderKey,
    opts: {
      now: Date;
      owner: string;
      reason: string;
      code?: number;
      message?: string;
      monthGiveBack?: MonthAmount;
    },
  ): Promise<void> {
    const at = opts.now.toISOString();
    const extra = optionalSets({ upstreamCode: opts.code, upstreamMessage: opts.message });
    const items: TxItems = [
      {
        Update: {
          TableName: this.tableName,
          Key: ledgerKeys.order(key),
          UpdateExpression:
            'SET #state = :failed, reason = :reason, updatedAt = :at, gsi1pk = :gsi1pk, ' +
            `gsi1sk = :at${extra.clause} REMOVE leaseOwner, leaseUntil`,
          ConditionExpression: '#state = :crediting AND leaseOwner = :owner',
          ExpressionAttributeNames: { '#state': 'state', ...extra.names },
          ExpressionAttributeValues: {
            ':failed': 'FAILED_PERMANENT',
            ':crediting': 'CREDITING',
            ':owner': opts.owner,
            ':reason': opts.reason,
            ':at': at,
            ':gsi1pk': 'ORDERS#FAILED_PERMANENT',
            ...extra.values,
          },
        },
      },
    ];
    if (opts.monthGiveBack) items.push(giveBackToMonth(this.tableName, opts.monthGiveBack, at));
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (err) {
      // Lost the lease: the delivery that holds it now decides the order's fate.
      if (cancellationReasons(err)?.[0]?.Code === 'ConditionalCheckFailed') return;
      throw new StoreError('DynamoDB markFailed failed', 'ledger.markFailed', { cause: err });
    }
  }

  getOrder(key: OrderKey) {
    return this.orders.getOrder(key);
  }

  findByPaymentIntent(paymentIntentId: string) {
    return this.orders.findByPaymentIntent(paymentIntentId);
  }

  /** Credits in [from, to] for the reconciliation: orders, and reversals credited back. */
  async listCredited(
    from: Date,
    to: Date,
  ): Promise<{ orderKey: string; customerId: string; gb: Decimal; creditedAt: Date }[]> {
    const [orders, reversals] = await Promise.all([
      this.orders.listCredited(from, to),
      this.parts.listRecredited(from, to),
    ]);
    return [...orders, ...reversals];
  }

  async claimDeduction(input: {
    key: OrderKey;
    part: PartInput;
    expect: { refundedMinor: number; deductedMinor: number };
    next: RefundCounters & { refundsResetAt?: number };
    now: Date;
  }): Promise<ClaimDeductionResult> {
    const at = input.now.toISOString();
    const reset = optionalSets({ refundsResetAt: input.next.refundsResetAt });
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: partItem(input.key, input.part, at),
                ConditionExpression: 'attribute_not_exists(pk)',
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: ledgerKeys.order(input.key),
                UpdateExpression:
                  `SET refundedMinor = :r, deductedMinor = :d, deductedGb = :g, updatedAt = :at${reset.clause} ` +
                  'ADD #version :one',
                ConditionExpression:
                  '#state = :credited AND refundedMinor = :oldR AND deductedMinor = :oldD',
                ExpressionAttributeNames: {
                  '#state': 'state',
                  '#version': 'version',
                  ...reset.names,
                },
                ExpressionAttributeValues: {
                  ':credited': 'CREDITED',
                  ':r': input.next.refundedMinor,
                  ':d': input.next.deductedMinor,
                  ':g': input.next.deductedGb,
                  ':oldR': input.expect.refundedMinor,
                  ':oldD': input.expect.deductedMinor,
                  ':at': at,
                  ':one': 1,
                  ...reset.values,
                },
              },
            },
          ],
        }),
      );
      return { outcome: 'claimed' };
    } catch (err) {
      const reasons = cancellationReasons(err);
      if (!reasons) {
        throw new StoreError('DynamoDB claimDeduction failed', 'ledger.claimDeduction', {
          cause: err,
        });
      }
      const [partReason, orderReason] = reasons;
      if (partReason?.Code === 'ConditionalCheckFailed') {
        const old = oldItem(partReason.Item);
        const part = old ? toPart(old) : await this.getPart(input.key, input.part.partId);
        return part ? { outcome: 'part-exists', part } : { outcome: 'conflict' };
      }
      if (orderReason?.Code === 'ConditionalCheckFailed') return { outcome: 'order-changed' };
      return { outcome: 'conflict' };
    }
  }

  /** The part, and a new `version` on its order, so a release decided before it fails. */
  async recordPart(
    key: OrderKey,
    part: PartInput,
    now: Date,
  ): Promise<{ created: true } | { created: false; part: DeductionPart | undefined }> {
    const at = now.toISOString();
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: partItem(key, part, at),
                ConditionExpression: 'attribute_not_exists(pk)',
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: ledgerKeys.order(key),
                UpdateExpression: 'SET updatedAt = :at ADD #version :one',
                ConditionExpression: 'attribute_exists(pk)',
                ExpressionAttributeNames: { '#version': 'version' },
                ExpressionAttributeValues: { ':at': at, ':one': 1 },
              },
            },
          ],
        }),
      );
      return { created: true };
    } catch (err) {
      const partReason = cancellationReasons(err)?.[0];
      if (partReason?.Code !== 'ConditionalCheckFailed') {
        throw new StoreError('DynamoDB recordPart failed', 'ledger.recordPart', {
          cause: err,
          retryable: cancellationReasons(err) !== undefined,
        });
      }
      const old = oldItem(partReason.Item);
      return { created: false, part: old ? toPart(old) : await this.getPart(key, part.partId) };
    }
  }

  getPart(key: OrderKey, partId: string) {
    return this.parts.getPart(key, partId);
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

  async recordPending(input: {
    provider: string;
    ref: string;
    entry: PendingEntry;
    guard: PendingGuard;
    now: Date;
  }): Promise<boolean> {
    const head = ledgerKeys.pending(input.provider, input.ref);
    const at = input.now.toISOString();
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            this.guardItem(input.guard, at),
            {
              Put: {
                TableName: this.tableName,
                Item: { pk: head.pk, sk: pendingEntrySk(input.entry.partId), ...input.entry },
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: head,
                UpdateExpression: 'SET updatedAt = :at ADD #version :one',
                ExpressionAttributeNames: { '#version': 'version' },
                ExpressionAttributeValues: { ':at': at, ':one': 1 },
              },
            },
          ],
        }),
      );
      return true;
    } catch (err) {
      const reasons = cancellationReasons(err);
      if (reasons?.[0]?.Code === 'ConditionalCheckFailed') return false;
      throw new StoreError('DynamoDB recordPending failed', 'ledger.recordPending', {
        cause: err,
        retryable: reasons !== undefined,
      });
    }
  }

  private guardItem(guard: PendingGuard, at: string): TxItems[number] {
    if ('orderCrediting' in guard) {
      // Marks the order, so that whoever marks it CREDITED learns there is work left.
      return {
        Update: {
          TableName: this.tableName,
          Key: ledgerKeys.order(guard.orderCrediting),
          UpdateExpression: 'SET refundsDuringCredit = :yes, updatedAt = :at',
          ConditionExpression: '#state IN (:received, :crediting)',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':received': 'RECEIVED',
            ':crediting': 'CREDITING',
            ':yes': true,
            ':at': at,
          },
        },
      };
    }
    const key =
      'orderAbsent' in guard
        ? ledgerKeys.order(guard.orderAbsent)
        : ledgerKeys.paymentIntent(guard.paymentIntentAbsent);
    return {
      ConditionCheck: {
        TableName: this.tableName,
        Key: key,
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    };
  }

  async clearPending(provider: string, ref: string, partIds: readonly string[]): Promise<void> {
    const { pk } = ledgerKeys.pending(provider, ref);
    for (const partId of partIds) {
      await storeCall('ledger.clearPending', () =>
        this.doc.send(
          new DeleteCommand({ TableName: this.tableName, Key: { pk, sk: pendingEntrySk(partId) } }),
        ),
      );
    }
  }
}

import {
  type DynamoDBDocumentClient,
  GetCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { StoreError, storeCall } from '../../store/errors.ts';
import { Decimal } from '../../units.ts';
import type { OrderReason } from '../reasons.ts';
import {
  addToMonth,
  addWithinCap,
  giveBackToMonth,
  type MonthAmount,
  type MonthCap,
} from './ledger-caps.ts';
import {
  type CreditInRange,
  cancellationReasons,
  creditsInRange,
  isConditionFailed,
  ledgerKeys,
  type OrderKey,
  oldItem,
  optionalSets,
  type PaidNotCredited,
  pick,
  stateIndex,
  type TxItems,
  versionIs,
} from './ledger-items.ts';
import { type PartInput, type PendingEntry, partItem, pendingEntrySk } from './ledger-parts.ts';
import type { FailedRefund, RefundCounters } from './refund-counters.ts';

/**
 * The order aggregate: one item per payment, plus a pointer from a Stripe PaymentIntent to
 * its order. A write that also moves a month counter (`ledger-caps.ts`) or takes pending
 * refunds as parts (`ledger-parts.ts`) does it in the same transaction. Every read that
 * decides money is strongly consistent: an eventually consistent read may miss the write a
 * moment ago.
 */

export type OrderState =
  /** A transient failure released the lease; the next delivery claims it again. */
  | 'RECEIVED'
  /** A delivery holds the lease until `leaseUntil` and is calling the upstream. */
  | 'CREDITING'
  | 'CREDITED'
  /** Recorded, never credited: unknown package, amount mismatch, bad order data, refunded. */
  | 'REJECTED'
  /** Recorded for a human: over a limit, or paid nothing (a 100 % discount). */
  | 'HELD'
  /** The upstream refused for good (204 not our channel customer, other codes). */
  | 'FAILED_PERMANENT'
  /** The provider reported that a delayed payment failed. */
  | 'PAYMENT_FAILED';

export type { OrderKey };

export interface Order extends OrderKey {
  /** The upstream's idempotency key, derived from the order key. */
  orderId: string;
  state: OrderState;
  customerId?: string;
  packageId?: string;
  quantity?: number;
  /** GB the catalog gives for this order, decimal text. */
  gb?: string;
  /**
   * GB sent to the upstream when less than `gb`: refunds or disputes recorded before the
   * payment was known took their share off the credit. Absent: `gb` is credited.
   */
  creditGb?: string;
  /** Amount charged, in minor units (after discounts, with tax). */
  amountMinor?: number;
  /** Amount before discounts and taxes (Stripe `amount_subtotal`), matched to the catalog. */
  subtotalMinor?: number;
  taxMinor?: number;
  discountMinor?: number;
  currency?: string;
  paymentIntentId?: string;
  /** The `yyyy-MM` whose cap counter this order was added to. */
  capMonth?: string;
  /** Why it is REJECTED, HELD or FAILED_PERMANENT (`amount-mismatch`, `monthly-cap`, …). */
  reason?: OrderReason;
  leaseOwner?: string;
  /** Epoch milliseconds. */
  leaseUntil?: number;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  creditedAt?: string;
  upstreamCode?: number;
  upstreamMessage?: string;
  lastError?: string;
  /** When an operator released a HELD order for crediting, who did, and why. */
  releasedAt?: string;
  releasedBy?: string;
  releaseNote?: string;
  /**
   * When the alert of a HELD, FAILED_PERMANENT or REJECTED order went out: the sweep alerts
   * such orders without it again.
   */
  alertedAt?: string;
  /** Cumulative refunded minor units seen (Stripe `amount_refunded`). */
  refundedMinor: number;
  /** Epoch seconds the provider created the event `refundedMinor` comes from. */
  refundedAt?: number;
  /** That event's total as reported, the failed refunds it counted not taken out. */
  refundedTotalMinor?: number;
  /** Minor units already covered by deductions (refunds and disputes, at most the paid amount). */
  deductedMinor: number;
  /** Disputed minor units not reinstated (absent on old items: see `disputedOf`). */
  disputedMinor?: number;
  /** GB already claimed for deduction (or kept off the credit), decimal text. */
  deductedGb: string;
  /**
   * Bumped by every write of a refund part and by a release, so that a release decided on
   * what an operator read fails when a refund was recorded meanwhile. Absent on old items: 0.
   */
  version?: number;
  /**
   * Epoch seconds of the last failed refund (or lowered total): once set, each refunded total
   * reported is a part of its own (`<part>@<created>`), as one amount can stand for more again.
   */
  refundsResetAt?: number;
  /** The refunds that failed: what each refunded total still counts of them. */
  failedRefunds?: FailedRefund[];
  /** Refunds or disputes were recorded (pending) while it was RECEIVED or CREDITING. */
  refundsDuringCredit?: boolean;
}

export type NewOrder = Omit<
  Order,
  | 'attempts'
  | 'createdAt'
  | 'updatedAt'
  | 'refundedMinor'
  | 'refundedAt'
  | 'refundedTotalMinor'
  | 'deductedMinor'
  | 'deductedGb'
  | 'disputedMinor'
  | 'leaseOwner'
  | 'leaseUntil'
  | 'releasedAt'
  | 'releasedBy'
  | 'releaseNote'
  | 'version'
  | 'refundsResetAt'
  | 'failedRefunds'
  | 'refundsDuringCredit'
>;

/** How an order ends for good: why, the upstream's answer, the cap's GB to give back. */
export interface MarkFailedOptions {
  now: Date;
  owner: string;
  reason: OrderReason;
  code?: number;
  message?: string;
  monthGiveBack?: MonthAmount;
}

export interface Lease {
  owner: string;
  /** Epoch milliseconds. */
  until: number;
}

/** Every attribute of an order (the type makes the list complete); an item has keys besides. */
const ORDER_FIELDS: { [K in keyof Order]-?: true } = {
  provider: true,
  paymentId: true,
  orderId: true,
  state: true,
  customerId: true,
  packageId: true,
  quantity: true,
  gb: true,
  creditGb: true,
  amountMinor: true,
  subtotalMinor: true,
  taxMinor: true,
  discountMinor: true,
  currency: true,
  paymentIntentId: true,
  capMonth: true,
  reason: true,
  leaseOwner: true,
  leaseUntil: true,
  attempts: true,
  createdAt: true,
  updatedAt: true,
  creditedAt: true,
  upstreamCode: true,
  upstreamMessage: true,
  lastError: true,
  releasedAt: true,
  releasedBy: true,
  releaseNote: true,
  alertedAt: true,
  refundedMinor: true,
  refundedAt: true,
  refundedTotalMinor: true,
  deductedMinor: true,
  disputedMinor: true,
  deductedGb: true,
  version: true,
  refundsResetAt: true,
  failedRefunds: true,
  refundsDuringCredit: true,
};
const ORDER_ATTRS: ReadonlySet<string> = new Set(Object.keys(ORDER_FIELDS));

/** An order read from a cancellation reason (ALL_OLD), which comes marshalled. */
export function orderOfOldItem(raw: unknown): Order | undefined {
  const item = oldItem(raw);
  return item ? toOrder(item) : undefined;
}

export const toOrder = (item: Record<string, unknown>): Order => pick<Order>(item, ORDER_ATTRS);

/**
 * One order, read consistently. Apart from OrderStore so that a reader (auto top-up) does not
 * carry the ledger's writes in its bundle.
 */
export async function readOrder(
  doc: DynamoDBDocumentClient,
  tableName: string,
  key: OrderKey,
): Promise<Order | undefined> {
  const out = await storeCall('ledger.getOrder', () =>
    doc.send(
      new GetCommand({ TableName: tableName, Key: ledgerKeys.order(key), ConsistentRead: true }),
    ),
  );
  return out.Item ? toOrder(out.Item) : undefined;
}

/** The GB the upstream is asked to credit for an order. */
export const gbToCredit = (order: Pick<Order, 'gb' | 'creditGb'>): string | undefined =>
  order.creditGb ?? order.gb;

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
  /** A refund failed among them: when the last one did. */
  refundsResetAt?: number;
  failedRefunds?: FailedRefund[];
}

export type CreateOrderResult =
  | { outcome: 'created'; order: Order }
  | { outcome: 'exists'; existing: Order }
  /** Another order already claimed this order's PaymentIntent (one credit per PaymentIntent). */
  | { outcome: 'payment-intent-taken'; by: OrderKey | undefined }
  | { outcome: 'cap-exceeded' }
  /** A refund or dispute was recorded for this payment since `pending` was read. */
  | { outcome: 'pending-changed' }
  /** Another transaction was writing the same items; nothing was written. */
  | { outcome: 'conflict' };

/** Attempts of a transaction that DynamoDB cancelled for a conflict with another one. */
const CONFLICT_ROUNDS = 3;

export class OrderStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** Takes the lease of an order that is RECEIVED or whose lease has expired. */
  async reclaim(
    key: OrderKey,
    opts: { now: Date; lease: Lease },
  ): Promise<{ claimed: true; order: Order } | { claimed: false; existing: Order | undefined }> {
    const at = opts.now.toISOString();
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ledgerKeys.order(key),
          UpdateExpression:
            'SET #state = :crediting, leaseOwner = :owner, leaseUntil = :until, updatedAt = :at, ' +
            'gsi1pk = :gsi1pk, gsi1sk = :at ADD attempts :one',
          ConditionExpression:
            '#state = :received OR (#state = :crediting AND leaseUntil < :nowMs)',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':crediting': 'CREDITING',
            ':received': 'RECEIVED',
            ':owner': opts.lease.owner,
            ':until': opts.lease.until,
            ':nowMs': opts.now.getTime(),
            ':at': at,
            ':gsi1pk': 'ORDERS#CREDITING',
            ':one': 1,
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { claimed: true, order: toOrder(out.Attributes ?? {}) };
    } catch (err) {
      if (!isConditionFailed(err)) {
        throw new StoreError('DynamoDB reclaim failed', 'ledger.reclaim', { cause: err });
      }
      const existing = oldItem(err.Item);
      return { claimed: false, existing: existing ? toOrder(existing) : await this.getOrder(key) };
    }
  }

  async markCredited(
    key: OrderKey,
    opts: { now: Date; code: number; message: string },
  ): Promise<{ refundsDuringCredit: boolean }> {
    const at = opts.now.toISOString();
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ledgerKeys.order(key),
          UpdateExpression:
            'SET #state = :credited, creditedAt = :at, updatedAt = :at, gsi1pk = :gsi1pk, ' +
            'gsi1sk = :at, upstreamCode = :code, upstreamMessage = :msg ' +
            'REMOVE leaseOwner, leaseUntil, lastError',
          // Whoever holds the lease now, the upstream has applied this orderId: it is credited.
          ConditionExpression: '#state IN (:crediting, :received)',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':credited': 'CREDITED',
            ':crediting': 'CREDITING',
            ':received': 'RECEIVED',
            ':at': at,
            ':gsi1pk': 'ORDERS#CREDITED',
            ':code': opts.code,
            ':msg': opts.message,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { refundsDuringCredit: out.Attributes?.refundsDuringCredit === true };
    } catch (err) {
      // Already marked by a concurrent delivery, which saw the same flag.
      if (isConditionFailed(err)) return { refundsDuringCredit: false };
      throw new StoreError('DynamoDB markCredited failed', 'ledger.markCredited', { cause: err });
    }
  }

  async release(key: OrderKey, opts: { now: Date; owner: string; error: string }): Promise<void> {
    const at = opts.now.toISOString();
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ledgerKeys.order(key),
          UpdateExpression:
            'SET #state = :received, updatedAt = :at, gsi1pk = :gsi1pk, gsi1sk = :at, ' +
            'lastError = :error REMOVE leaseOwner, leaseUntil',
          ConditionExpression: '#state = :crediting AND leaseOwner = :owner',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':received': 'RECEIVED',
            ':crediting': 'CREDITING',
            ':owner': opts.owner,
            ':at': at,
            ':gsi1pk': 'ORDERS#RECEIVED',
            ':error': opts.error,
          },
        }),
      );
    } catch (err) {
      if (isConditionFailed(err)) return; // the lease already passed to another delivery
      throw new StoreError('DynamoDB release failed', 'ledger.release', { cause: err });
    }
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
    const item: Record<string, unknown> = {
      ...ledgerKeys.order(order),
      ...stateIndex(order.state, at),
      ...order,
    };
    if (opts.lease) {
      item.leaseOwner = opts.lease.owner;
      item.leaseUntil = opts.lease.until;
    }
    if (opts.monthCap) item.capMonth = opts.monthCap.month;
    item.attempts = opts.lease ? 1 : 0;
    item.createdAt = at;
    item.updatedAt = at;
    item.refundedMinor = counters.refundedMinor;
    item.deductedMinor = counters.deductedMinor;
    item.deductedGb = counters.deductedGb;
    if (counters.disputedMinor) item.disputedMinor = counters.disputedMinor;
    if (counters.refundedAt !== undefined) item.refundedAt = counters.refundedAt;
    if (counters.refundedTotalMinor !== undefined) {
      item.refundedTotalMinor = counters.refundedTotalMinor;
    }
    if (opts.pending?.refundsResetAt !== undefined) {
      item.refundsResetAt = opts.pending.refundsResetAt;
    }
    if (opts.pending?.failedRefunds?.length) item.failedRefunds = opts.pending.failedRefunds;
    item.version = opts.pending?.parts.length ? 1 : 0;
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
    // The PaymentIntent's claim: a Checkout session and a payment_intent.succeeded naming the
    // same PaymentIntent are two order keys, and only the first written may stand.
    const pointerIndex = order.paymentIntentId
      ? items.push({
          Put: {
            TableName: this.tableName,
            Item: {
              ...ledgerKeys.paymentIntent(order.paymentIntentId),
              provider: order.provider,
              paymentId: order.paymentId,
            },
            ConditionExpression: 'attribute_not_exists(pk)',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          },
        }) - 1
      : -1;
    const headIndex = opts.pending ? items.length : -1;
    if (opts.pending) items.push(...this.takePending(order, opts.pending, at));
    for (let round = 1; ; round++) {
      const res = await this.tryCreate(order, items, { capIndex, headIndex, pointerIndex });
      // Conflicts with other orders' transactions on the shared month counter clear quickly.
      if (res.outcome !== 'conflict' || round >= CONFLICT_ROUNDS) {
        return res.outcome === 'created' ? { outcome: 'created', order: toOrder(item) } : res;
      }
      await new Promise((r) => setTimeout(r, 10 * round + Math.random() * 20));
    }
  }

  /** The pending head checked at the version read, its entries marked taken, the parts written. */
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
            // Marked taken rather than deleted (no role may delete): a refund recorded since
            // the read bumped the version and fails this transaction.
            Update: {
              TableName: this.tableName,
              Key: head,
              UpdateExpression: 'SET takenAt = :at ADD #version :one',
              ConditionExpression: v.condition,
              ExpressionAttributeNames: v.names,
              ExpressionAttributeValues: { ...v.values, ':at': at, ':one': 1 },
            },
          },
    ];
    for (const entry of take.entries) {
      items.push({
        Update: {
          TableName: this.tableName,
          Key: { pk: head.pk, sk: pendingEntrySk(entry.partId) },
          UpdateExpression: 'SET takenAt = :at',
          ExpressionAttributeValues: { ':at': at },
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
    at: { capIndex: number; headIndex: number; pointerIndex: number },
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
        const existing = orderOfOldItem(orderReason.Item);
        if (existing) return { outcome: 'exists', existing };
        const read = await this.getOrder(key);
        return read ? { outcome: 'exists', existing: read } : { outcome: 'conflict' };
      }
      const pointer = reasons[at.pointerIndex];
      if (pointer?.Code === 'ConditionalCheckFailed') {
        const by = pointer.Item as Record<string, { S?: string }> | undefined;
        const provider = by?.provider?.S;
        const paymentId = by?.paymentId?.S;
        return {
          outcome: 'payment-intent-taken',
          by: provider && paymentId ? { provider, paymentId } : undefined,
        };
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

  async markFailed(key: OrderKey, opts: MarkFailedOptions): Promise<void> {
    const at = opts.now.toISOString();
    const extra = optionalSets({ upstreamCode: opts.code, upstreamMessage: opts.message });
    const items: TxItems = [
      {
        Update: {
          TableName: this.tableName,
          Key: ledgerKeys.order(key),
          UpdateExpression:
            'SET #state = :failed, reason = :reason, updatedAt = :at, gsi1pk = :gsi1pk, ' +
            `gsi1sk = :at${extra.clause} REMOVE leaseOwner, leaseUntil, alertedAt`,
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

  async markAlerted(key: OrderKey, now: Date): Promise<void> {
    await storeCall('ledger.markOrderAlerted', () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ledgerKeys.order(key),
          UpdateExpression: 'SET alertedAt = :at',
          ConditionExpression: 'attribute_exists(sk)',
          ExpressionAttributeValues: { ':at': now.toISOString() },
        }),
      ),
    );
  }

  getOrder(key: OrderKey): Promise<Order | undefined> {
    return readOrder(this.doc, this.tableName, key);
  }

  /**
   * A newer report of the same standing refunds; false when the order moved meanwhile. Bumps
   * `version`: a failed refund decided against the older total must be decided again.
   */
  async noteRefundReport(
    key: OrderKey,
    opts: { refundedMinor: number; total: number; version: number; at: number; now: Date },
  ): Promise<boolean> {
    const version = versionIs(opts.version);
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ledgerKeys.order(key),
          UpdateExpression:
            'SET refundedAt = :at, refundedTotalMinor = :total, updatedAt = :now ADD #version :one',
          ConditionExpression: `refundedMinor = :r AND (attribute_not_exists(refundedAt) OR refundedAt < :at) AND ${version.condition}`,
          ExpressionAttributeNames: version.names,
          ExpressionAttributeValues: {
            ':r': opts.refundedMinor,
            ':at': opts.at,
            ':total': opts.total,
            ':now': opts.now.toISOString(),
            ':one': 1,
            ...version.values,
          },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailed(err)) return false;
      throw new StoreError('DynamoDB noteRefundReport failed', 'ledger.noteRefundReport', {
        cause: err,
      });
    }
  }

  async findByPaymentIntent(paymentIntentId: string): Promise<Order | undefined> {
    const out = await storeCall('ledger.findByPaymentIntent', () =>
      this.doc.send(
        new GetCommand({
          TableName: this.tableName,
          Key: ledgerKeys.paymentIntent(paymentIntentId),
          ConsistentRead: true,
        }),
      ),
    );
    const ptr = out.Item;
    if (typeof ptr?.provider !== 'string' || typeof ptr.paymentId !== 'string') return undefined;
    return this.getOrder({ provider: ptr.provider, paymentId: ptr.paymentId });
  }

  /**
   * Orders credited in [from, to], for the daily reconciliation. A credited order's index
   * sort key is its credit time (later deductions do not move it).
   */
  async listCredited(from: Date, to: Date): Promise<CreditInRange[]> {
    const items = await creditsInRange(
      this.doc,
      this.tableName,
      'ORDERS#CREDITED',
      from,
      to,
      'ledger.listCredited',
    );
    const out: CreditInRange[] = [];
    for (const item of items) {
      const order = toOrder(item);
      const gb = gbToCredit(order);
      if (!order.customerId || !gb || !order.creditedAt) continue;
      out.push({
        orderKey: ledgerKeys.order(order).pk,
        customerId: order.customerId,
        gb: new Decimal(gb),
        creditedAt: new Date(order.creditedAt),
        createdAt: firstCallAt(order),
      });
    }
    return out;
  }

  /**
   * Paid orders not credited yet whose state last changed in [from, to]: RECEIVED (an answer
   * lost, a transient failure) or CREDITING (a delivery at the upstream, or one that died
   * there). Few at any time: two small index partitions, read in parallel.
   */
  async listPaidNotCredited(from: Date, to: Date): Promise<PaidNotCredited[]> {
    const states = await Promise.all(
      (['RECEIVED', 'CREDITING'] as const).map((state) =>
        creditsInRange(
          this.doc,
          this.tableName,
          `ORDERS#${state}`,
          from,
          to,
          'ledger.listPaidNotCredited',
        ),
      ),
    );
    const out: PaidNotCredited[] = [];
    for (const item of states.flat()) {
      const order = toOrder(item);
      const gb = gbToCredit(order);
      if (!order.customerId || !gb) continue;
      out.push({
        orderKey: ledgerKeys.order(order).pk,
        customerId: order.customerId,
        gb: new Decimal(gb),
        createdAt: firstCallAt(order),
      });
    }
    return out;
  }
}

/**
 * When the upstream may first have been asked to apply the order: a HELD order only from its
 * release (days may pass), any other from its creation. Before it, no record can be its credit.
 */
function firstCallAt(order: Order): Date {
  return new Date(order.releasedAt ?? order.createdAt);
}

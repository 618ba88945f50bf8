import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  NumberValue,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { Decimal } from '../units.ts';
import { StoreError, storeCall } from './errors.ts';
import { TABLE_DEFINITION } from './table.ts';

/**
 * The top-up ledger (README "Data model"): one item per payment, one per refund or dispute
 * part, one counter per customer and month, and a pointer from a Stripe PaymentIntent to its
 * order. Every conditional write that can lose a race returns the item that won, so callers
 * decide from one request; where an engine leaves the item out, one read stands in.
 */

export type OrderState =
  /** A transient failure released the lease; the next delivery claims it again. */
  | 'RECEIVED'
  /** A delivery holds the lease until `leaseUntil` and is calling the upstream. */
  | 'CREDITING'
  | 'CREDITED'
  /** Recorded, never credited: unknown package, amount mismatch, bad order data. */
  | 'REJECTED'
  /** Recorded for a human: over the per-order maximum or the customer's monthly cap. */
  | 'HELD'
  /** The upstream refused for good (204 not our channel customer, other codes). */
  | 'FAILED_PERMANENT'
  /** The provider reported that a delayed payment failed. */
  | 'PAYMENT_FAILED';

export type DeductionState = 'DEDUCTING' | 'DEDUCTED' | 'UNKNOWN' | 'FAILED' | 'SKIPPED';

export interface OrderKey {
  provider: string;
  paymentId: string;
}

export interface Order extends OrderKey {
  /** The upstream's idempotency key, derived from the order key. */
  orderId: string;
  state: OrderState;
  customerId?: string;
  packageId?: string;
  quantity?: number;
  /** GB to credit, decimal text. */
  gb?: string;
  amountMinor?: number;
  currency?: string;
  paymentIntentId?: string;
  /** The `yyyy-MM` whose cap counter this order was added to. */
  capMonth?: string;
  /** Why it is REJECTED, HELD or FAILED_PERMANENT (`amount-mismatch`, `monthly-cap`, …). */
  reason?: string;
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
  /** Cumulative refunded minor units seen (Stripe `amount_refunded`). */
  refundedMinor: number;
  /** Minor units already covered by deductions (refunds and disputes, at most the paid amount). */
  deductedMinor: number;
  /** GB already claimed for deduction, decimal text. */
  deductedGb: string;
}

export type NewOrder = Omit<
  Order,
  | 'attempts'
  | 'createdAt'
  | 'updatedAt'
  | 'refundedMinor'
  | 'deductedMinor'
  | 'deductedGb'
  | 'leaseOwner'
  | 'leaseUntil'
  | 'releasedAt'
  | 'releasedBy'
  | 'releaseNote'
>;

export interface DeductionPart {
  partId: string;
  state: DeductionState;
  kind: 'refund' | 'dispute';
  customerId?: string;
  /** GB to deduct, decimal text. */
  gb: string;
  /** Minor units this part newly covers. */
  minor: number;
  reason?: string;
  createdAt: string;
  updatedAt: string;
  upstreamCode?: number;
  upstreamMessage?: string;
  error?: string;
}

export interface Lease {
  owner: string;
  /** Epoch milliseconds. */
  until: number;
}

export interface MonthCap {
  customerId: string;
  month: string;
  /** GB this order adds, decimal text. */
  gb: string;
  /** The counter may hold at most this much before the add (cap − gb), decimal text. */
  room: string;
}

export type CreateOrderResult =
  | { outcome: 'created'; order: Order }
  | { outcome: 'exists'; existing: Order }
  | { outcome: 'cap-exceeded' }
  /** Another transaction was writing the same items; nothing was written. */
  | { outcome: 'conflict' };

export type ClaimDeductionResult =
  | { outcome: 'claimed' }
  | { outcome: 'part-exists'; part: DeductionPart }
  /** The order's counters moved since they were read (or it is no longer CREDITED). */
  | { outcome: 'order-changed' }
  | { outcome: 'conflict' };

/** What the payments domain needs from storage; `DynamoLedger` is the one implementation. */
export interface Ledger {
  createOrder(
    order: NewOrder,
    opts: { now: Date; lease?: Lease; monthCap?: MonthCap },
  ): Promise<CreateOrderResult>;
  /** Takes the lease of an order that is RECEIVED or whose lease has expired. */
  reclaim(
    key: OrderKey,
    opts: { now: Date; lease: Lease },
  ): Promise<{ claimed: true; order: Order } | { claimed: false; existing: Order | undefined }>;
  markCredited(key: OrderKey, opts: { now: Date; code: number; message: string }): Promise<void>;
  /** Gives the lease back after a transient failure so the provider's retry can go at once. */
  release(key: OrderKey, opts: { now: Date; owner: string; error: string }): Promise<void>;
  /**
   * An operator lets a HELD order be credited: HELD → RECEIVED (then `reclaim` and the usual
   * call), recording who, when and why. The operator overrides the limits, so the cap is not
   * checked, but the GB are added to `monthCap.month`'s counter so later orders count them
   * (and a permanent failure gives them back, as for any order). The order must still carry
   * the customer and GB the operator saw.
   */
  releaseHeld(
    key: OrderKey,
    opts: {
      now: Date;
      by: string;
      note: string;
      monthCap: { customerId: string; month: string; gb: string };
    },
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
      monthGiveBack?: { customerId: string; month: string; gb: string };
    },
  ): Promise<void>;
  getOrder(key: OrderKey): Promise<Order | undefined>;
  findByPaymentIntent(paymentIntentId: string): Promise<Order | undefined>;
  claimDeduction(input: {
    key: OrderKey;
    part: Omit<DeductionPart, 'createdAt' | 'updatedAt'>;
    expect: { refundedMinor: number; deductedMinor: number };
    next: { refundedMinor: number; deductedMinor: number; deductedGb: string };
    now: Date;
  }): Promise<ClaimDeductionResult>;
  getPart(key: OrderKey, partId: string): Promise<DeductionPart | undefined>;
  /** Records a part that deducts nothing (order never credited, currency mismatch). */
  recordPart(
    key: OrderKey,
    part: Omit<DeductionPart, 'createdAt' | 'updatedAt'>,
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
}

export const ledgerKeys = {
  order: (k: OrderKey) => ({ pk: `ORDER#${k.provider}#${k.paymentId}`, sk: 'ORDER' }),
  part: (k: OrderKey, partId: string) => ({
    pk: `ORDER#${k.provider}#${k.paymentId}`,
    sk: `DEDUCT#${partId}`,
  }),
  month: (customerId: string, month: string) => ({ pk: `CUSTMONTH#${customerId}`, sk: month }),
  paymentIntent: (id: string) => ({ pk: `PI#${id}`, sk: 'PI' }),
} as const;

/** Attempts of a transaction that DynamoDB cancelled for a conflict with another one. */
const CONFLICT_ROUNDS = 3;

const stateIndex = (state: string, at: string) => ({ gsi1pk: `ORDERS#${state}`, gsi1sk: at });

const ORDER_ATTRS = new Set<string>([
  'provider',
  'paymentId',
  'orderId',
  'state',
  'customerId',
  'packageId',
  'quantity',
  'gb',
  'amountMinor',
  'currency',
  'paymentIntentId',
  'capMonth',
  'reason',
  'leaseOwner',
  'leaseUntil',
  'attempts',
  'createdAt',
  'updatedAt',
  'creditedAt',
  'upstreamCode',
  'upstreamMessage',
  'lastError',
  'releasedAt',
  'releasedBy',
  'releaseNote',
  'refundedMinor',
  'deductedMinor',
  'deductedGb',
]);

function pick<T>(item: Record<string, unknown>, attrs: Set<string>): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(item)) if (attrs.has(k)) out[k] = v;
  return out as T;
}

const toOrder = (item: Record<string, unknown>): Order => pick<Order>(item, ORDER_ATTRS);

const PART_ATTRS = new Set<string>([
  'partId',
  'state',
  'kind',
  'customerId',
  'gb',
  'minor',
  'reason',
  'createdAt',
  'updatedAt',
  'upstreamCode',
  'upstreamMessage',
  'error',
]);

const toPart = (item: Record<string, unknown>): DeductionPart =>
  pick<DeductionPart>(item, PART_ATTRS);

/** Items on SDK errors (ALL_OLD) come marshalled: the document client leaves errors alone. */
function oldItem(raw: unknown): Record<string, unknown> | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  return unmarshall(raw as Record<string, AttributeValue>);
}

interface CancellationReason {
  Code?: string;
  Item?: unknown;
}

function cancellationReasons(err: unknown): CancellationReason[] | undefined {
  if (!(err instanceof Error) || err.name !== 'TransactionCanceledException') return undefined;
  return (err as Error & { CancellationReasons?: CancellationReason[] }).CancellationReasons ?? [];
}

function isConditionFailed(err: unknown): err is Error & { Item?: unknown } {
  return err instanceof Error && err.name === 'ConditionalCheckFailedException';
}

/** `, #a = :a, …` for the attributes that have a value; the others are left as they are. */
function optionalSets(attrs: Record<string, unknown>): {
  clause: string;
  names: Record<string, string>;
  values: Record<string, unknown>;
} {
  let clause = '';
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined) continue;
    clause += `, #${name} = :${name}`;
    names[`#${name}`] = name;
    values[`:${name}`] = value;
  }
  return { clause, names, values };
}

export class DynamoLedger implements Ledger {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async createOrder(
    order: NewOrder,
    opts: { now: Date; lease?: Lease; monthCap?: MonthCap },
  ): Promise<CreateOrderResult> {
    const at = opts.now.toISOString();
    const item = {
      ...ledgerKeys.order(order),
      ...stateIndex(order.state, at),
      ...order,
      ...(opts.lease ? { leaseOwner: opts.lease.owner, leaseUntil: opts.lease.until } : {}),
      ...(opts.monthCap ? { capMonth: opts.monthCap.month } : {}),
      attempts: opts.lease ? 1 : 0,
      createdAt: at,
      updatedAt: at,
      refundedMinor: 0,
      deductedMinor: 0,
      deductedGb: '0',
    };
    const items: NonNullable<TransactWriteCommandInput['TransactItems']> = [
      {
        Put: {
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      },
    ];
    if (opts.monthCap) {
      const cap = opts.monthCap;
      items.push({
        Update: {
          TableName: this.tableName,
          Key: ledgerKeys.month(cap.customerId, cap.month),
          UpdateExpression: 'ADD #gb :gb SET updatedAt = :at',
          ConditionExpression: 'attribute_not_exists(#gb) OR #gb <= :room',
          ExpressionAttributeNames: { '#gb': 'gb' },
          ExpressionAttributeValues: {
            ':gb': NumberValue.from(cap.gb),
            ':room': NumberValue.from(cap.room),
            ':at': at,
          },
        },
      });
    }
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
    for (let round = 1; ; round++) {
      const res = await this.tryCreate(order, items, Boolean(opts.monthCap));
      // Conflicts with other orders' transactions on the shared month counter clear quickly.
      if (res.outcome !== 'conflict' || round >= CONFLICT_ROUNDS) {
        return res.outcome === 'created' ? { outcome: 'created', order: toOrder(item) } : res;
      }
      await new Promise((r) => setTimeout(r, 10 * round + Math.random() * 20));
    }
  }

  private async tryCreate(
    key: OrderKey,
    items: NonNullable<TransactWriteCommandInput['TransactItems']>,
    withCap: boolean,
  ): Promise<CreateOrderResult | { outcome: 'created' }> {
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: items }));
      return { outcome: 'created' };
    } catch (err) {
      const reasons = cancellationReasons(err);
      if (!reasons)
        throw new StoreError('DynamoDB createOrder failed', 'ledger.createOrder', { cause: err });
      const [orderReason, capReason] = reasons;
      if (orderReason?.Code === 'ConditionalCheckFailed') {
        const existing = oldItem(orderReason.Item);
        if (existing) return { outcome: 'exists', existing: toOrder(existing) };
        const read = await this.getOrder(key);
        return read ? { outcome: 'exists', existing: read } : { outcome: 'conflict' };
      }
      if (withCap && capReason?.Code === 'ConditionalCheckFailed') {
        return { outcome: 'cap-exceeded' };
      }
      if (reasons.some((r) => r.Code === 'TransactionConflict')) return { outcome: 'conflict' };
      throw new StoreError('DynamoDB createOrder was cancelled', 'ledger.createOrder', {
        cause: err,
        retryable: true,
      });
    }
  }

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
  ): Promise<void> {
    const at = opts.now.toISOString();
    try {
      await this.doc.send(
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
        }),
      );
    } catch (err) {
      if (isConditionFailed(err)) return; // already marked by a concurrent delivery
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

  async releaseHeld(
    key: OrderKey,
    opts: {
      now: Date;
      by: string;
      note: string;
      monthCap: { customerId: string; month: string; gb: string };
    },
  ): Promise<{ released: true } | { released: false; existing: Order | undefined }> {
    const at = opts.now.toISOString();
    const cap = opts.monthCap;
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
                  'gsi1sk = :at',
                ConditionExpression: '#state = :held AND customerId = :customer AND gb = :gb',
                ExpressionAttributeNames: { '#state': 'state' },
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
                },
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: ledgerKeys.month(cap.customerId, cap.month),
                UpdateExpression: 'ADD #gb :gb SET updatedAt = :at',
                ExpressionAttributeNames: { '#gb': 'gb' },
                ExpressionAttributeValues: { ':gb': NumberValue.from(cap.gb), ':at': at },
              },
            },
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
      monthGiveBack?: { customerId: string; month: string; gb: string };
    },
  ): Promise<void> {
    const at = opts.now.toISOString();
    const extra = optionalSets({ upstreamCode: opts.code, upstreamMessage: opts.message });
    const items: NonNullable<TransactWriteCommandInput['TransactItems']> = [
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
    const back = opts.monthGiveBack;
    if (back) {
      items.push({
        Update: {
          TableName: this.tableName,
          Key: ledgerKeys.month(back.customerId, back.month),
          UpdateExpression: 'ADD #gb :minus SET updatedAt = :at',
          ExpressionAttributeNames: { '#gb': 'gb' },
          ExpressionAttributeValues: { ':minus': NumberValue.from(`-${back.gb}`), ':at': at },
        },
      });
    }
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (err) {
      // Lost the lease: the delivery that holds it now decides the order's fate.
      if (cancellationReasons(err)?.[0]?.Code === 'ConditionalCheckFailed') return;
      throw new StoreError('DynamoDB markFailed failed', 'ledger.markFailed', { cause: err });
    }
  }

  async getOrder(key: OrderKey): Promise<Order | undefined> {
    const out = await storeCall('ledger.getOrder', () =>
      this.doc.send(new GetCommand({ TableName: this.tableName, Key: ledgerKeys.order(key) })),
    );
    return out.Item ? toOrder(out.Item) : undefined;
  }

  async findByPaymentIntent(paymentIntentId: string): Promise<Order | undefined> {
    const out = await storeCall('ledger.findByPaymentIntent', () =>
      this.doc.send(
        new GetCommand({
          TableName: this.tableName,
          Key: ledgerKeys.paymentIntent(paymentIntentId),
        }),
      ),
    );
    const ptr = out.Item;
    if (typeof ptr?.provider !== 'string' || typeof ptr.paymentId !== 'string') return undefined;
    return this.getOrder({ provider: ptr.provider, paymentId: ptr.paymentId });
  }

  async claimDeduction(input: {
    key: OrderKey;
    part: Omit<DeductionPart, 'createdAt' | 'updatedAt'>;
    expect: { refundedMinor: number; deductedMinor: number };
    next: { refundedMinor: number; deductedMinor: number; deductedGb: string };
    now: Date;
  }): Promise<ClaimDeductionResult> {
    const at = input.now.toISOString();
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: this.partItem(input.key, input.part, at),
                ConditionExpression: 'attribute_not_exists(pk)',
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: ledgerKeys.order(input.key),
                UpdateExpression:
                  'SET refundedMinor = :r, deductedMinor = :d, deductedGb = :g, updatedAt = :at',
                ConditionExpression:
                  '#state = :credited AND refundedMinor = :oldR AND deductedMinor = :oldD',
                ExpressionAttributeNames: { '#state': 'state' },
                ExpressionAttributeValues: {
                  ':credited': 'CREDITED',
                  ':r': input.next.refundedMinor,
                  ':d': input.next.deductedMinor,
                  ':g': input.next.deductedGb,
                  ':oldR': input.expect.refundedMinor,
                  ':oldD': input.expect.deductedMinor,
                  ':at': at,
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

  async recordPart(
    key: OrderKey,
    part: Omit<DeductionPart, 'createdAt' | 'updatedAt'>,
    now: Date,
  ): Promise<{ created: true } | { created: false; part: DeductionPart | undefined }> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: this.partItem(key, part, now.toISOString()),
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { created: true };
    } catch (err) {
      if (!isConditionFailed(err)) {
        throw new StoreError('DynamoDB recordPart failed', 'ledger.recordPart', { cause: err });
      }
      const old = oldItem(err.Item);
      return { created: false, part: old ? toPart(old) : await this.getPart(key, part.partId) };
    }
  }

  async settleDeduction(
    key: OrderKey,
    partId: string,
    result: {
      state: 'DEDUCTED' | 'UNKNOWN' | 'FAILED';
      now: Date;
      code?: number;
      message?: string;
      error?: string;
    },
  ): Promise<void> {
    const at = result.now.toISOString();
    const extra = optionalSets({
      upstreamCode: result.code,
      upstreamMessage: result.message,
      error: result.error,
    });
    await storeCall('ledger.settleDeduction', () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ledgerKeys.part(key, partId),
          UpdateExpression: `SET #state = :state, updatedAt = :at, gsi1pk = :gsi1pk, gsi1sk = :at${extra.clause}`,
          ConditionExpression: '#state = :deducting',
          ExpressionAttributeNames: { '#state': 'state', ...extra.names },
          ExpressionAttributeValues: {
            ':state': result.state,
            ':deducting': 'DEDUCTING',
            ':at': at,
            ':gsi1pk': `ORDERS#${result.state}`,
            ...extra.values,
          },
        }),
      ),
    );
  }

  /**
   * Orders credited in [from, to], for the daily reconciliation. A credited order's index
   * sort key is its credit time (later deductions do not move it).
   */
  async listCredited(
    from: Date,
    to: Date,
  ): Promise<{ orderKey: string; customerId: string; gb: Decimal; creditedAt: Date }[]> {
    const out: { orderKey: string; customerId: string; gb: Decimal; creditedAt: Date }[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await storeCall('ledger.listCredited', () =>
        this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: TABLE_DEFINITION.gsi1.indexName,
            KeyConditionExpression: 'gsi1pk = :pk AND gsi1sk BETWEEN :from AND :to',
            ExpressionAttributeValues: {
              ':pk': 'ORDERS#CREDITED',
              ':from': from.toISOString(),
              ':to': to.toISOString(),
            },
            ExclusiveStartKey: start,
          }),
        ),
      );
      for (const item of page.Items ?? []) {
        const order = toOrder(item);
        if (!order.customerId || !order.gb || !order.creditedAt) continue;
        out.push({
          orderKey: ledgerKeys.order(order).pk,
          customerId: order.customerId,
          gb: new Decimal(order.gb),
          creditedAt: new Date(order.creditedAt),
        });
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  async getPart(key: OrderKey, partId: string): Promise<DeductionPart | undefined> {
    const out = await storeCall('ledger.getPart', () =>
      this.doc.send(
        new GetCommand({ TableName: this.tableName, Key: ledgerKeys.part(key, partId) }),
      ),
    );
    return out.Item ? toPart(out.Item) : undefined;
  }

  private partItem(
    key: OrderKey,
    part: Omit<DeductionPart, 'createdAt' | 'updatedAt'>,
    at: string,
  ): Record<string, unknown> {
    return {
      ...ledgerKeys.part(key, part.partId),
      ...stateIndex(part.state, at),
      ...part,
      createdAt: at,
      updatedAt: at,
    };
  }
}

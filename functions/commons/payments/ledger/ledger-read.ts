import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { storeCall } from '../../store/errors.ts';
import { queryAll, type StoredItem } from '../../store/query.ts';
import { TABLE_DEFINITION } from '../../store/table.ts';
import type { OrderReason } from '../reasons.ts';
import type { DeductionPart, DeductionState, Order, OrderKey, OrderState } from './ledger.ts';
import { type CreditInRange, ledgerKeys, type PaidNotCredited } from './ledger-items.ts';
import { OrderStore, readOrder } from './ledger-orders.ts';
import { listRecredited } from './ledger-parts.ts';

/**
 * The ledger as other capabilities read it (auto top-up, the balance poll, the
 * reconciliation): nothing here writes, and nothing else of `payments/ledger/` is theirs to
 * import (test/unit/ledger-boundary.test.ts).
 */
export interface LedgerReads {
  /** One order, read consistently. */
  getOrder(key: OrderKey): Promise<Order | undefined>;
  /** Credits in [from, to]: orders, and reversals credited back. */
  listCredited(from: Date, to: Date): Promise<CreditInRange[]>;
  /** Orders credited in [from, to], without reversals. */
  listCreditedOrders(from: Date, to: Date): Promise<CreditInRange[]>;
  /** Paid orders not credited yet (RECEIVED, CREDITING) whose state changed in [from, to]. */
  listPaidNotCredited(from: Date, to: Date): Promise<PaidNotCredited[]>;
}

export function ledgerReads(doc: DynamoDBDocumentClient, tableName: string): LedgerReads {
  const orders = new OrderStore(doc, tableName);
  return {
    getOrder: (key) => readOrder(doc, tableName, key),
    async listCredited(from, to) {
      const [credited, reversals] = await Promise.all([
        orders.listCredited(from, to),
        listRecredited(doc, tableName, from, to),
      ]);
      return [...credited, ...reversals];
    },
    listCreditedOrders: (from, to) => orders.listCredited(from, to),
    listPaidNotCredited: (from, to) => orders.listPaidNotCredited(from, to),
  };
}

/** An order's key as credits and records name it (`ORDER#stripe#pi_…`). */
export const orderKeyText = (key: OrderKey): string => ledgerKeys.order(key).pk;

/** The item holding a customer's GB of a month under the payments cap. */
export const monthCapKey = (customerId: string, month: string) =>
  ledgerKeys.month(customerId, month);

/**
 * Read-only views of the top-up ledger for operators (CLI, status page). Writes stay in
 * `ledger.ts`; this module only queries the keys it defines.
 */

// Records over the ledger's types: the compiler refuses a state missing here or a stray one.
const ORDER_STATE_SET: Record<OrderState, true> = {
  RECEIVED: true,
  CREDITING: true,
  CREDITED: true,
  REJECTED: true,
  HELD: true,
  FAILED_PERMANENT: true,
  PAYMENT_FAILED: true,
};
const DEDUCTION_STATE_SET: Record<DeductionState, true> = {
  DEDUCTING: true,
  DEDUCTED: true,
  UNKNOWN: true,
  FAILED: true,
  SKIPPED: true,
  RECREDITING: true,
  RECREDITED: true,
};

/** Every order state, in lifecycle order. */
export const ORDER_STATES = Object.keys(ORDER_STATE_SET) as readonly OrderState[];
export const DEDUCTION_STATES = Object.keys(DEDUCTION_STATE_SET) as readonly DeductionState[];

export function isOrderState(value: string): value is OrderState {
  return Object.hasOwn(ORDER_STATE_SET, value);
}

export function isDeductionState(value: string): value is DeductionState {
  return Object.hasOwn(DEDUCTION_STATE_SET, value);
}

/** A deduction part with the order it belongs to. */
export interface PartOfOrder extends DeductionPart {
  order: OrderKey;
}

const ORDER_PREFIX = 'ORDER#';
const PART_PREFIX = 'DEDUCT#';
const KEY_ATTRIBUTES = new Set<string>([
  TABLE_DEFINITION.partitionKey,
  TABLE_DEFINITION.sortKey,
  TABLE_DEFINITION.gsi1.partitionKey,
  TABLE_DEFINITION.gsi1.sortKey,
]);

function withoutKeys(item: StoredItem): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(item)) if (!KEY_ATTRIBUTES.has(k)) out[k] = v;
  return out;
}

const toOrder = (item: StoredItem) => withoutKeys(item) as unknown as Order;

/** `ORDER#<provider>#<paymentId>` back to its parts; the payment id may itself hold `#`. */
export function orderKeyFromPk(pk: string): OrderKey | undefined {
  if (!pk.startsWith(ORDER_PREFIX)) return undefined;
  const rest = pk.slice(ORDER_PREFIX.length);
  const cut = rest.indexOf('#');
  if (cut <= 0 || cut === rest.length - 1) return undefined;
  return { provider: rest.slice(0, cut), paymentId: rest.slice(cut + 1) };
}

function toPart(item: StoredItem): PartOfOrder | undefined {
  const order = orderKeyFromPk(String(item[TABLE_DEFINITION.partitionKey]));
  if (!order) return undefined;
  return { ...(withoutKeys(item) as unknown as DeductionPart), order };
}

export class LedgerReader {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /**
   * Orders in a state, most recently changed first, at most `limit` (DynamoDB pages are
   * followed until then). The state index also holds deduction parts; they are skipped.
   */
  async ordersInState(state: OrderState, limit = 100): Promise<Order[]> {
    const items = await this.#byState(state, limit, 'ledgerRead.ordersInState');
    return items.filter((i) => i[TABLE_DEFINITION.sortKey] === 'ORDER').map(toOrder);
  }

  /** Deduction parts in a state, most recently changed first, with their order's key. */
  async partsInState(state: DeductionState, limit = 100): Promise<PartOfOrder[]> {
    const items = await this.#byState(state, limit, 'ledgerRead.partsInState');
    return items
      .filter((i) => String(i[TABLE_DEFINITION.sortKey]).startsWith(PART_PREFIX))
      .map(toPart)
      .filter((p): p is PartOfOrder => p !== undefined);
  }

  /**
   * Parts handed to a person (UNKNOWN, FAILED) whose alert is not known to have gone out.
   * Every such part is read (the filter runs after the read): they are few, a person's.
   */
  async partsNotAlerted(limit = 100): Promise<PartOfOrder[]> {
    const out: PartOfOrder[] = [];
    for (const state of ['UNKNOWN', 'FAILED'] as const) {
      if (out.length >= limit) break;
      const items = await this.#byState(state, limit - out.length, 'ledgerRead.partsNotAlerted', {
        expression: 'attribute_not_exists(alertedAt)',
      });
      out.push(
        ...items
          .filter((i) => String(i[TABLE_DEFINITION.sortKey]).startsWith(PART_PREFIX))
          .map(toPart)
          .filter((p): p is PartOfOrder => p !== undefined),
      );
    }
    return out;
  }

  /**
   * Paid orders not credited (HELD, FAILED_PERMANENT, REJECTED) whose alert is not known to
   * have gone out, but those REJECTED as refunded or as a duplicate, which need nobody. Few,
   * like `partsNotAlerted`: the filter runs after the read.
   */
  async ordersNotAlerted(since: Date, limit = 100): Promise<Order[]> {
    const out: Order[] = [];
    for (const state of ['HELD', 'FAILED_PERMANENT', 'REJECTED'] as const) {
      if (out.length >= limit) break;
      const items = await this.#byState(state, limit - out.length, 'ledgerRead.ordersNotAlerted', {
        expression: 'attribute_not_exists(alertedAt) AND NOT (reason IN (:refunded, :duplicate))',
        values: {
          ':refunded': 'refunded' satisfies OrderReason,
          ':duplicate': 'duplicate-payment-intent' satisfies OrderReason,
        },
        since: since.toISOString(),
      });
      out.push(...items.filter((i) => i[TABLE_DEFINITION.sortKey] === 'ORDER').map(toOrder));
    }
    return out;
  }

  /** The order and its refund / dispute parts in one query (they share the partition). */
  async orderWithParts(
    key: OrderKey,
  ): Promise<{ order: Order; parts: DeductionPart[] } | undefined> {
    const { pk } = ledgerKeys.order(key);
    const items = await queryAll(
      this.doc,
      {
        TableName: this.tableName,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': TABLE_DEFINITION.partitionKey },
        ExpressionAttributeValues: { ':pk': pk },
        ConsistentRead: true,
      },
      'ledgerRead.orderWithParts',
    );
    const orderItem = items.find((i) => i[TABLE_DEFINITION.sortKey] === 'ORDER');
    if (!orderItem) return undefined;
    const parts = items
      .filter((i) => String(i[TABLE_DEFINITION.sortKey]).startsWith(PART_PREFIX))
      .map((i) => withoutKeys(i) as unknown as DeductionPart);
    return { order: toOrder(orderItem), parts };
  }

  async #byState(
    state: string,
    limit: number,
    operation: string,
    filter?: { expression: string; values?: Record<string, string>; since?: string },
  ): Promise<StoredItem[]> {
    // Bounded by state-change time where asked: the read (and its cost) stays with the recent.
    const since = filter?.since;
    const out: StoredItem[] = [];
    let start: StoredItem | undefined;
    do {
      const page = await storeCall(operation, () =>
        this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: TABLE_DEFINITION.gsi1.indexName,
            KeyConditionExpression: since ? '#pk = :pk AND #sk >= :since' : '#pk = :pk',
            ExpressionAttributeNames: {
              '#pk': TABLE_DEFINITION.gsi1.partitionKey,
              ...(since ? { '#sk': TABLE_DEFINITION.gsi1.sortKey } : {}),
            },
            ExpressionAttributeValues: {
              ':pk': `ORDERS#${state}`,
              ...filter?.values,
              ...(since ? { ':since': since } : {}),
            },
            ScanIndexForward: false,
            ...(filter ? { FilterExpression: filter.expression } : {}),
            Limit: Math.min(limit - out.length, 1000),
            ExclusiveStartKey: start,
          }),
        ),
      );
      out.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start && out.length < limit);
    return out;
  }
}

import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { Decimal } from '../units.ts';
import { storeCall } from './errors.ts';
import { ledgerKeys, type OrderKey, optionalSets, pick, stateIndex } from './ledger-items.ts';
import { TABLE_DEFINITION } from './table.ts';

/**
 * The refund-part aggregate: one item per refund, dispute or reversal of an order (in the
 * order's partition), and the refunds and disputes recorded before their payment could take
 * them (pending, keyed by the payment reference the provider's event names).
 */

export type DeductionState =
  | 'DEDUCTING'
  | 'DEDUCTED'
  | 'UNKNOWN'
  | 'FAILED'
  | 'SKIPPED'
  /** A reversal (won dispute, failed refund) is giving traffic back. */
  | 'RECREDITING'
  | 'RECREDITED';

export type PartKind = 'refund' | 'dispute' | 'reversal';

export interface DeductionPart {
  partId: string;
  state: DeductionState;
  kind: PartKind;
  customerId?: string;
  /** GB to deduct (or, for a reversal, to credit back), decimal text. */
  gb: string;
  /** Minor units this part newly covers (a reversal: gives back). */
  minor: number;
  reason?: string;
  /** A reversal's own upstream orderId. */
  orderId?: string;
  createdAt: string;
  updatedAt: string;
  upstreamCode?: number;
  upstreamMessage?: string;
  error?: string;
}

export type PartInput = Omit<DeductionPart, 'createdAt' | 'updatedAt'>;

/** A refund or dispute that arrived before its order could take it. */
export interface PendingEntry {
  partId: string;
  kind: 'refund' | 'dispute';
  /** A refund: the payment's cumulative refunded total; a dispute: its amount. */
  minor: number;
  currency: string;
  /** Epoch seconds the provider created the event, when it says. */
  eventCreated?: number;
  at: string;
}

export interface Pending {
  /** 0 when nothing was ever recorded (or it was all taken by the order). */
  version: number;
  entries: PendingEntry[];
}

const PART_ATTRS = new Set<string>([
  'partId',
  'state',
  'kind',
  'customerId',
  'gb',
  'minor',
  'reason',
  'orderId',
  'createdAt',
  'updatedAt',
  'upstreamCode',
  'upstreamMessage',
  'error',
]);

const PENDING_ATTRS = new Set<string>([
  'partId',
  'kind',
  'minor',
  'currency',
  'eventCreated',
  'at',
]);

export const toPart = (item: Record<string, unknown>): DeductionPart =>
  pick<DeductionPart>(item, PART_ATTRS);

export const pendingEntrySk = (partId: string) => `PART#${partId}`;

export function partItem(key: OrderKey, part: PartInput, at: string): Record<string, unknown> {
  return {
    ...ledgerKeys.part(key, part.partId),
    ...stateIndex(part.state, at),
    ...part,
    createdAt: at,
    updatedAt: at,
  };
}

export class PartStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async getPart(key: OrderKey, partId: string): Promise<DeductionPart | undefined> {
    const out = await storeCall('ledger.getPart', () =>
      this.doc.send(
        new GetCommand({
          TableName: this.tableName,
          Key: ledgerKeys.part(key, partId),
          ConsistentRead: true,
        }),
      ),
    );
    return out.Item ? toPart(out.Item) : undefined;
  }

  /** Ends a claimed part; conditional on it still being in `from` (another may have ended it). */
  async settle(
    key: OrderKey,
    partId: string,
    result: {
      from: 'DEDUCTING' | 'RECREDITING';
      state: 'DEDUCTED' | 'UNKNOWN' | 'FAILED' | 'RECREDITED';
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
          ConditionExpression: '#state = :from',
          ExpressionAttributeNames: { '#state': 'state', ...extra.names },
          ExpressionAttributeValues: {
            ':state': result.state,
            ':from': result.from,
            ':at': at,
            ':gsi1pk': `ORDERS#${result.state}`,
            ...extra.values,
          },
        }),
      ),
    );
  }

  /**
   * Reversals credited back in [from, to] (their index sort key is the time they were), for
   * the reconciliation: each is a recharge of its own upstream.
   */
  async listRecredited(
    from: Date,
    to: Date,
  ): Promise<{ orderKey: string; customerId: string; gb: Decimal; creditedAt: Date }[]> {
    const out: { orderKey: string; customerId: string; gb: Decimal; creditedAt: Date }[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await storeCall('ledger.listRecredited', () =>
        this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: TABLE_DEFINITION.gsi1.indexName,
            KeyConditionExpression: 'gsi1pk = :pk AND gsi1sk BETWEEN :from AND :to',
            ExpressionAttributeValues: {
              ':pk': 'ORDERS#RECREDITED',
              ':from': from.toISOString(),
              ':to': to.toISOString(),
            },
            ExclusiveStartKey: start,
          }),
        ),
      );
      for (const item of page.Items ?? []) {
        const part = toPart(item);
        if (!part.customerId || new Decimal(part.gb).isZero()) continue;
        out.push({
          orderKey: `${String(item.pk)}#${String(item.sk)}`,
          customerId: part.customerId,
          gb: new Decimal(part.gb),
          creditedAt: new Date(part.updatedAt),
        });
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  /** The refunds and disputes waiting for a payment reference, read strongly consistent. */
  async getPending(provider: string, ref: string): Promise<Pending> {
    const head = ledgerKeys.pending(provider, ref);
    const out = await storeCall('ledger.getPending', () =>
      this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': head.pk },
          ConsistentRead: true,
        }),
      ),
    );
    let version = 0;
    const entries: PendingEntry[] = [];
    for (const item of out.Items ?? []) {
      if (item.sk === head.sk) version = Number(item.version ?? 0);
      else entries.push(pick<PendingEntry>(item, PENDING_ATTRS));
    }
    return { version, entries };
  }
}

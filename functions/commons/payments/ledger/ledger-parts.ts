import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { StoreError, storeCall } from '../../store/errors.ts';
import { Decimal } from '../../units.ts';
import type { PartReason } from '../reasons.ts';
import {
  type CreditInRange,
  cancellationReasons,
  creditsInRange,
  ledgerKeys,
  type OrderKey,
  oldItem,
  optionalSets,
  pick,
  stateIndex,
  type TxItems,
  versionIs,
} from './ledger-items.ts';
import type { FailedRefund, RefundCounters } from './refund-counters.ts';

/**
 * The refund-part aggregate: one item per refund, dispute or reversal of an order (in the
 * order's partition), and the refunds and disputes recorded before their payment could take
 * them (pending, keyed by the payment reference the provider's event names). A part is
 * written in one transaction with what it depends on: the order's counters and `version`,
 * or the guard that the payment is still unknown or still being credited.
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
  reason?: PartReason;
  /** A reversal's own upstream orderId. */
  orderId?: string;
  createdAt: string;
  updatedAt: string;
  upstreamCode?: number;
  upstreamMessage?: string;
  error?: string;
  /** When its critical alert went out (UNKNOWN, FAILED): the sweep re-alerts parts without. */
  alertedAt?: string;
}

export type PartInput = Omit<DeductionPart, 'createdAt' | 'updatedAt'>;

/** A refund, dispute or their reversal that arrived before its order could take it. */
export interface PendingEntry {
  partId: string;
  kind: 'refund' | 'dispute' | 'refund-failed' | 'dispute-won';
  /**
   * A refund: the payment's cumulative refunded total; a dispute: its amount; a failed
   * refund: its amount; a closed dispute: what was reinstated.
   */
  minor: number;
  /** dispute-won: the dispute's part id. */
  disputePartId?: string;
  /** dispute-won: the dispute was lost. */
  disputeLost?: boolean;
  currency: string;
  /** Epoch seconds the provider created the event, when it says. */
  eventCreated?: number;
  /** refund-failed: epoch seconds the refund itself was created, when it says. */
  refundCreated?: number;
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
  'alertedAt',
]);

const PENDING_ATTRS = new Set<string>([
  'partId',
  'kind',
  'minor',
  'disputePartId',
  'disputeLost',
  'currency',
  'eventCreated',
  'refundCreated',
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

  /** Every part of an order (refunds, disputes, reversals), read strongly consistent. */
  async listParts(key: OrderKey): Promise<DeductionPart[]> {
    const { pk } = ledgerKeys.order(key);
    const out = await storeCall('ledger.listParts', () =>
      this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :part)',
          ExpressionAttributeValues: { ':pk': pk, ':part': 'DEDUCT#' },
          ConsistentRead: true,
        }),
      ),
    );
    return (out.Items ?? []).map(toPart);
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

  async markAlerted(key: OrderKey, partId: string, now: Date): Promise<void> {
    await storeCall('ledger.markAlerted', () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ledgerKeys.part(key, partId),
          UpdateExpression: 'SET alertedAt = :at',
          ConditionExpression: 'attribute_exists(sk)',
          ExpressionAttributeValues: { ':at': now.toISOString() },
        }),
      ),
    );
  }

  /** Reversals credited back in [from, to] (see `listRecredited`). */
  listRecredited(from: Date, to: Date): Promise<CreditInRange[]> {
    return listRecredited(this.doc, this.tableName, from, to);
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
      // An entry an order took (or a deduction finished) is kept, marked, never applied twice.
      else if (item.takenAt === undefined) entries.push(pick<PendingEntry>(item, PENDING_ATTRS));
    }
    return { version, entries };
  }

  async claimDeduction(input: {
    key: OrderKey;
    part: PartInput;
    expect: { refundedMinor: number; deductedMinor: number; version: number };
    next: RefundCounters & { refundsResetAt?: number; failedRefunds?: FailedRefund[] };
    now: Date;
  }): Promise<ClaimDeductionResult> {
    const at = input.now.toISOString();
    const reset = optionalSets({
      refundsResetAt: input.next.refundsResetAt,
      disputedMinor: input.next.disputedMinor,
      refundedAt: input.next.refundedAt,
      refundedTotalMinor: input.next.refundedTotalMinor,
      failedRefunds: input.next.failedRefunds,
    });
    // Decided on the order as read: a failed refund or a newer total noted meanwhile changes
    // what the refunded totals still count.
    const version = versionIs(input.expect.version);
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
                // A credited order, or one refunded in full before it was known (coverage.ts).
                ConditionExpression:
                  '(#state = :credited OR (#state = :rejected AND #reason = :refunded)) AND ' +
                  `refundedMinor = :oldR AND deductedMinor = :oldD AND ${version.condition}`,
                ExpressionAttributeNames: {
                  '#state': 'state',
                  '#reason': 'reason',
                  ...version.names,
                  ...reset.names,
                },
                ExpressionAttributeValues: {
                  ':credited': 'CREDITED',
                  ':rejected': 'REJECTED',
                  ':refunded': 'refunded',
                  ':r': input.next.refundedMinor,
                  ':d': input.next.deductedMinor,
                  ':g': input.next.deductedGb,
                  ':oldR': input.expect.refundedMinor,
                  ':oldD': input.expect.deductedMinor,
                  ':at': at,
                  ':one': 1,
                  ...version.values,
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

  async recordPending(input: {
    provider: string;
    ref: string;
    entry: PendingEntry;
    guard: PendingGuard;
    now: Date;
  }): Promise<boolean> {
    const head = ledgerKeys.pending(input.provider, input.ref);
    const at = input.now.toISOString();
    const created = input.entry.eventCreated;
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            this.guardItem(input.guard, at),
            {
              Put: {
                TableName: this.tableName,
                Item: { pk: head.pk, sk: pendingEntrySk(input.entry.partId), ...input.entry },
                // The same refunded total sent again later (after a refund failed) must not be
                // replaced by an older report of it; a failure is dated by its first report.
                ...(created === undefined
                  ? {}
                  : {
                      ConditionExpression:
                        input.entry.kind === 'refund-failed'
                          ? 'attribute_not_exists(pk) OR eventCreated > :created'
                          : 'attribute_not_exists(pk) OR eventCreated < :created',
                      ExpressionAttributeValues: { ':created': created },
                    }),
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
      // A report as new or newer is already recorded: nothing to add.
      if (reasons?.[1]?.Code === 'ConditionalCheckFailed') return true;
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

  async clearPending(
    provider: string,
    ref: string,
    partIds: readonly string[],
    now: Date,
  ): Promise<void> {
    const { pk } = ledgerKeys.pending(provider, ref);
    for (const partId of partIds) {
      await storeCall('ledger.clearPending', () =>
        this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { pk, sk: pendingEntrySk(partId) },
            UpdateExpression: 'SET takenAt = :at',
            ExpressionAttributeValues: { ':at': now.toISOString() },
          }),
        ),
      );
    }
  }
}

/**
 * Reversals credited back in [from, to] (their index sort key is the time they were), for
 * the reconciliation: each is a recharge of its own upstream. A function, so readers of the
 * ledger do not bundle its part writes.
 */
export async function listRecredited(
  doc: DynamoDBDocumentClient,
  tableName: string,
  from: Date,
  to: Date,
): Promise<CreditInRange[]> {
  const items = await creditsInRange(
    doc,
    tableName,
    'ORDERS#RECREDITED',
    from,
    to,
    'ledger.listRecredited',
  );
  const out: CreditInRange[] = [];
  for (const item of items) {
    const part = toPart(item);
    if (!part.customerId || new Decimal(part.gb).isZero()) continue;
    out.push({
      orderKey: `${String(item.pk)}#${String(item.sk)}`,
      customerId: part.customerId,
      gb: new Decimal(part.gb),
      creditedAt: new Date(part.updatedAt),
      createdAt: new Date(part.createdAt),
    });
  }
  return out;
}

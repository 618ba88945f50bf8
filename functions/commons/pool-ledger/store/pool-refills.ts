import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { StoreError, storeCall } from '../../store/errors.ts';
import { queryAll, type StoredItem } from '../../store/query.ts';
import { decimalText, expiresAt, type KeyPrefix } from '../../store/values.ts';
import { type Decimal, parseDecimal } from '../../units.ts';
import type { PoolId } from '../../upstream/types.ts';

export const poolRefillKeys = {
  /** A pool refill (the pool ledger), newest last. */
  poolRefill: (at: string, pool: string) => ({ pk: 'POOLREFILL', sk: `AT#${at}#${pool}` }),
} as const;

export const KEY_PREFIXES = [
  { pk: 'POOLREFILL', sk: 'AT#' },
] as const satisfies readonly KeyPrefix[];

/** Traffic the agent bought for a pool, seen as a rise of the pool's recharged figure. */
export interface PoolRefillRecord {
  pool: PoolId;
  /** The rise of `rechargedMb` between two snapshots. */
  addedMb: Decimal;
  /** When it happened: the upstream record's time when one matched, else the snapshot's. */
  at: string;
  /** The snapshot that showed it. */
  seenAt: string;
  /** The matching rechargeFlowListForMe record, when one was found. */
  record?: { mb: Decimal; createTime: string; createBy: string };
}

function fromItem(item: StoredItem): PoolRefillRecord {
  try {
    const r: PoolRefillRecord = {
      pool: item.pool as PoolId,
      addedMb: parseDecimal(item.addedMb, 'addedMb'),
      at: String(item.at),
      seenAt: String(item.seenAt),
    };
    const rec = item.record as Record<string, string> | undefined;
    if (rec) {
      r.record = {
        mb: parseDecimal(rec.mb, 'record.mb'),
        createTime: String(rec.createTime),
        createBy: String(rec.createBy),
      };
    }
    return r;
  } catch (cause) {
    throw new StoreError(`unreadable pool refill ${item.sk}`, 'poolRefills.read', { cause });
  }
}

/** The pool ledger: `POOLREFILL` / `AT#<seenAt>#<pool>`, kept as long as snapshots. */
export class PoolRefillStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #retentionDays: number;

  constructor(doc: DynamoDBDocumentClient, tableName: string, retentionDays = 400) {
    this.#doc = doc;
    this.#table = tableName;
    this.#retentionDays = retentionDays;
  }

  async put(r: PoolRefillRecord): Promise<void> {
    const item: StoredItem = {
      ...poolRefillKeys.poolRefill(r.seenAt, r.pool),
      pool: r.pool,
      addedMb: decimalText(r.addedMb),
      at: r.at,
      seenAt: r.seenAt,
      expiresAt: expiresAt(new Date(r.seenAt), this.#retentionDays),
    };
    if (r.record) {
      item.record = {
        mb: decimalText(r.record.mb),
        createTime: r.record.createTime,
        createBy: r.record.createBy,
      };
    }
    await storeCall('poolRefills.put', () =>
      this.#doc.send(new PutCommand({ TableName: this.#table, Item: item })),
    );
  }

  /** Refills seen at or after `since`, oldest first. */
  async since(since: Date): Promise<PoolRefillRecord[]> {
    const items = await queryAll(
      this.#doc,
      {
        TableName: this.#table,
        KeyConditionExpression: 'pk = :pk AND sk >= :from',
        ExpressionAttributeValues: {
          ':pk': poolRefillKeys.poolRefill('', '').pk,
          ':from': `AT#${since.toISOString()}`,
        },
      },
      'poolRefills.since',
    );
    return items.map(fromItem);
  }
}

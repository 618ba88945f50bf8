import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type BatchWriteOptions, batchWriteAll, type WriteStats } from '../../store/batch.ts';
import { StoreError } from '../../store/errors.ts';
import { queryAll, queryFirst, type StoredItem } from '../../store/query.ts';
import { decimalText, expiresAt, type KeyPrefix } from '../../store/values.ts';
import { type Decimal, parseDecimal } from '../../units.ts';
import type { PoolId } from '../../upstream/types.ts';

export const SNAP_PREFIX = 'SNAP#';

export const snapshotKeys = {
  snapshot: (pool: string, at: string) => ({ pk: `POOL#${pool}`, sk: `${SNAP_PREFIX}${at}` }),
} as const;

export const KEY_PREFIXES = [
  { pk: 'POOL#', sk: SNAP_PREFIX },
] as const satisfies readonly KeyPrefix[];

export const POOLS: readonly PoolId[] = ['primary', 'secondary'];

/** One pool's totals as read by one poll. */
export interface PoolSnapshot {
  pool: PoolId;
  /** ISO instant of the poll. */
  at: string;
  pollId: string;
  rechargedMb: Decimal;
  consumedMb: Decimal;
  residualMb: Decimal;
}

export interface SnapshotStoreOptions {
  /** Days a snapshot is kept (TTL). @default 400 */
  retentionDays?: number;
  batch?: BatchWriteOptions;
}

function fromItem(item: StoredItem): PoolSnapshot {
  try {
    return {
      pool: item.pool as PoolId,
      at: String(item.at),
      pollId: String(item.pollId),
      rechargedMb: parseDecimal(item.rechargedMb, 'rechargedMb'),
      consumedMb: parseDecimal(item.consumedMb, 'consumedMb'),
      residualMb: parseDecimal(item.residualMb, 'residualMb'),
    };
  } catch (cause) {
    throw new StoreError(`unreadable snapshot ${item.pk} ${item.sk}`, 'snapshots.read', {
      cause,
    });
  }
}

/** Pool snapshots: `POOL#<pool>` / `SNAP#<ISO instant>`, so a pool's history sorts by time. */
export class SnapshotStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #retentionDays: number;
  readonly #batch: BatchWriteOptions;

  constructor(doc: DynamoDBDocumentClient, tableName: string, options: SnapshotStoreOptions = {}) {
    this.#doc = doc;
    this.#table = tableName;
    this.#retentionDays = options.retentionDays ?? 400;
    this.#batch = options.batch ?? {};
  }

  /** Writes the snapshots of one poll together (one BatchWriteItem). */
  async put(snapshots: readonly PoolSnapshot[]): Promise<WriteStats> {
    const requests = snapshots.map((s) => ({
      PutRequest: {
        Item: {
          ...snapshotKeys.snapshot(s.pool, s.at),
          pool: s.pool,
          at: s.at,
          pollId: s.pollId,
          rechargedMb: decimalText(s.rechargedMb),
          consumedMb: decimalText(s.consumedMb),
          residualMb: decimalText(s.residualMb),
          expiresAt: expiresAt(new Date(s.at), this.#retentionDays),
        },
      },
    }));
    return batchWriteAll(this.#doc, this.#table, requests, 'snapshots.put', this.#batch);
  }

  async latest(pool: PoolId): Promise<PoolSnapshot | undefined> {
    const { pk } = snapshotKeys.snapshot(pool, '');
    const item = await queryFirst(
      this.#doc,
      {
        TableName: this.#table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :snap)',
        ExpressionAttributeValues: { ':pk': pk, ':snap': SNAP_PREFIX },
        ScanIndexForward: false,
        ConsistentRead: true,
      },
      'snapshots.latest',
    );
    return item && fromItem(item);
  }

  /** The newest snapshot of each pool that has one. */
  async latestAll(): Promise<Partial<Record<PoolId, PoolSnapshot>>> {
    const found = await Promise.all(POOLS.map((pool) => this.latest(pool)));
    const out: Partial<Record<PoolId, PoolSnapshot>> = {};
    for (const s of found) if (s) out[s.pool] = s;
    return out;
  }

  /** Snapshots of a pool taken in [from, to] (inclusive), oldest first. */
  async range(pool: PoolId, from: Date, to: Date): Promise<PoolSnapshot[]> {
    const lo = snapshotKeys.snapshot(pool, from.toISOString());
    const hi = snapshotKeys.snapshot(pool, to.toISOString());
    const items = await queryAll(
      this.#doc,
      {
        TableName: this.#table,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
        ExpressionAttributeValues: { ':pk': lo.pk, ':lo': lo.sk, ':hi': hi.sk },
      },
      'snapshots.range',
    );
    return items.map(fromItem);
  }
}

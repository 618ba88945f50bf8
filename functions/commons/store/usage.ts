import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type Decimal, parseDecimal } from '../units.ts';
import { type BatchWriteOptions, batchWriteAll, type WriteStats } from './batch.ts';
import { StoreError } from './errors.ts';
import { dayExpiresAt, decimalText, keys } from './keys.ts';
import { queryAll, type StoredItem } from './query.ts';
import { TABLE_DEFINITION } from './table.ts';

/** One customer's traffic on one day of the upstream's calendar, MB. */
export interface UsageRecord {
  customerId: string;
  day: string;
  userName: string;
  uploadMb: Decimal;
  downloadMb: Decimal;
}

export interface UsageStoreOptions {
  /** Days a usage row is kept, counted from its day (TTL). @default 400 */
  retentionDays?: number;
  batch?: BatchWriteOptions;
}

/**
 * What a stored row says, as text: two rows with the same fingerprint need no write.
 * Decimals are compared in their stored normal form (see `decimalText`).
 */
export function usageFingerprint(row: {
  userName: string;
  uploadMb: Decimal | string;
  downloadMb: Decimal | string;
}): string {
  const text = (v: Decimal | string) => (typeof v === 'string' ? v : decimalText(v));
  return `${row.userName}\u0000${text(row.uploadMb)}\u0000${text(row.downloadMb)}`;
}

function fromItem(item: StoredItem): UsageRecord {
  try {
    return {
      customerId: String(item.customerId),
      day: String(item.day),
      userName: String(item.userName ?? ''),
      uploadMb: parseDecimal(item.uploadMb, 'uploadMb'),
      downloadMb: parseDecimal(item.downloadMb, 'downloadMb'),
    };
  } catch (cause) {
    throw new StoreError(`unreadable usage row ${item.pk} ${item.sk}`, 'usage.read', { cause });
  }
}

/**
 * Per-customer daily usage: `USAGE#<customerId>` / `DAY#<day>` (a customer's history by
 * range), indexed by `gsi1` as `USAGEDAY#<day>` / `CUST#<customerId>` (everyone on a day).
 */
export class UsageStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #retentionDays: number;
  readonly #batch: BatchWriteOptions;

  constructor(doc: DynamoDBDocumentClient, tableName: string, options: UsageStoreOptions = {}) {
    this.#doc = doc;
    this.#table = tableName;
    this.#retentionDays = options.retentionDays ?? 400;
    this.#batch = options.batch ?? {};
  }

  /** Upserts rows (one item per customer per day). Keys must be unique within one call. */
  async put(rows: readonly UsageRecord[], at: Date): Promise<WriteStats> {
    const updatedAt = at.toISOString();
    const requests = rows.map((r) => ({
      PutRequest: {
        Item: {
          ...keys.usage(r.customerId, r.day),
          customerId: r.customerId,
          day: r.day,
          userName: r.userName,
          uploadMb: decimalText(r.uploadMb),
          downloadMb: decimalText(r.downloadMb),
          updatedAt,
          expiresAt: dayExpiresAt(r.day, this.#retentionDays),
        },
      },
    }));
    return batchWriteAll(this.#doc, this.#table, requests, 'usage.put', this.#batch);
  }

  /** One customer's rows for days in [fromDay, toDay], oldest first. */
  async byCustomer(customerId: string, fromDay: string, toDay: string): Promise<UsageRecord[]> {
    const lo = keys.usage(customerId, fromDay);
    const hi = keys.usage(customerId, toDay);
    const items = await queryAll(
      this.#doc,
      {
        TableName: this.#table,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
        ExpressionAttributeValues: { ':pk': lo.pk, ':lo': lo.sk, ':hi': hi.sk },
      },
      'usage.byCustomer',
    );
    return items.map(fromItem);
  }

  /** Every customer's row on one day, by customer id (as text). */
  async onDay(day: string): Promise<UsageRecord[]> {
    return (await this.#dayItems(day, 'usage.onDay')).map(fromItem);
  }

  /** Fingerprint of every stored row on a day, by customer id; for change detection. */
  async fingerprintsOnDay(day: string): Promise<Map<string, string>> {
    const items = await this.#dayItems(day, 'usage.fingerprintsOnDay', true);
    return new Map(
      items.map((i) => [
        String(i.customerId),
        usageFingerprint({
          userName: String(i.userName ?? ''),
          uploadMb: String(i.uploadMb),
          downloadMb: String(i.downloadMb),
        }),
      ]),
    );
  }

  #dayItems(day: string, operation: string, slim = false): Promise<StoredItem[]> {
    const { gsi1pk } = keys.usage('', day);
    return queryAll(
      this.#doc,
      {
        TableName: this.#table,
        IndexName: TABLE_DEFINITION.gsi1.indexName,
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: { ':pk': gsi1pk },
        ...(slim && {
          ProjectionExpression: 'customerId, userName, uploadMb, downloadMb',
        }),
      },
      operation,
    );
  }
}

import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type BatchWriteOptions, batchWriteAll, type WriteStats } from '../../store/batch.ts';
import { StoreError } from '../../store/errors.ts';
import { queryAll, type StoredItem } from '../../store/query.ts';
import { dayExpiresAt, decimalText, type KeyPrefix } from '../../store/values.ts';
import { addDays, type Decimal, parseDecimal } from '../../units.ts';

export type SeriesName = 'consume' | 'nni';

export const seriesKeys = {
  series: (series: SeriesName, day: string) => ({ pk: `SERIES#${series}`, sk: `DAY#${day}` }),
} as const;

export const KEY_PREFIXES = [{ pk: 'SERIES#', sk: 'DAY#' }] as const satisfies readonly KeyPrefix[];

/** The agent's total traffic on a day (`getFlowConsumeDetail`), MB. */
export interface ConsumeSeriesDay {
  day: string;
  uploadMb: Decimal;
  downloadMb: Decimal;
}

/** NNI traffic on a day (`getNNIFlowConsumeDetail`), MB. */
export interface NniSeriesDay {
  day: string;
  flowMb: Decimal;
}

/** What the forecast reads: traffic consumed on a day (upload + download), MB. */
export interface DailyConsumption {
  day: string;
  consumedMb: Decimal;
}

export interface SeriesStoreOptions {
  /** @default 400 */
  retentionDays?: number;
  batch?: BatchWriteOptions;
}

export const consumeFingerprint = (d: ConsumeSeriesDay) =>
  `${decimalText(d.uploadMb)}\u0000${decimalText(d.downloadMb)}`;
export const nniFingerprint = (d: NniSeriesDay) => decimalText(d.flowMb);

function read<T>(item: StoredItem, parse: (item: StoredItem) => T): T {
  try {
    return parse(item);
  } catch (cause) {
    throw new StoreError(`unreadable series day ${item.pk} ${item.sk}`, 'series.read', { cause });
  }
}

const consumeFromItem = (item: StoredItem): ConsumeSeriesDay =>
  read(item, (i) => ({
    day: String(i.day),
    uploadMb: parseDecimal(i.uploadMb, 'uploadMb'),
    downloadMb: parseDecimal(i.downloadMb, 'downloadMb'),
  }));

const nniFromItem = (item: StoredItem): NniSeriesDay =>
  read(item, (i) => ({ day: String(i.day), flowMb: parseDecimal(i.flowMb, 'flowMb') }));

/** Daily series: `SERIES#consume` and `SERIES#nni`, one `DAY#<day>` item per day. */
export class SeriesStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #retentionDays: number;
  readonly #batch: BatchWriteOptions;

  constructor(doc: DynamoDBDocumentClient, tableName: string, options: SeriesStoreOptions = {}) {
    this.#doc = doc;
    this.#table = tableName;
    this.#retentionDays = options.retentionDays ?? 400;
    this.#batch = options.batch ?? {};
  }

  putConsume(days: readonly ConsumeSeriesDay[], at: Date): Promise<WriteStats> {
    return this.#put(
      'consume',
      days.map((d) => ({
        day: d.day,
        uploadMb: decimalText(d.uploadMb),
        downloadMb: decimalText(d.downloadMb),
      })),
      at,
    );
  }

  putNni(days: readonly NniSeriesDay[], at: Date): Promise<WriteStats> {
    return this.#put(
      'nni',
      days.map((d) => ({ day: d.day, flowMb: decimalText(d.flowMb) })),
      at,
    );
  }

  /** Consumption days in [fromDay, toDay] that are stored, oldest first. */
  async consume(fromDay: string, toDay: string): Promise<ConsumeSeriesDay[]> {
    return (await this.#range('consume', fromDay, toDay)).map(consumeFromItem);
  }

  async nni(fromDay: string, toDay: string): Promise<NniSeriesDay[]> {
    return (await this.#range('nni', fromDay, toDay)).map(nniFromItem);
  }

  /**
   * The daily burn for the forecast: consumption (upload + download) on each stored day of
   * the `days` days ending with `endDay` (inclusive), oldest first; days never read are
   * missing, not zero. Pass yesterday as `endDay` to leave today's partial day out.
   */
  async dailyConsumption(days: number, endDay: string): Promise<DailyConsumption[]> {
    const from = addDays(endDay, -(days - 1));
    return (await this.consume(from, endDay)).map((d) => ({
      day: d.day,
      consumedMb: d.uploadMb.plus(d.downloadMb),
    }));
  }

  #put(
    series: SeriesName,
    days: { day: string; [attribute: string]: string }[],
    at: Date,
  ): Promise<WriteStats> {
    const updatedAt = at.toISOString();
    const requests = days.map((d) => ({
      PutRequest: {
        Item: {
          ...seriesKeys.series(series, d.day),
          ...d,
          updatedAt,
          expiresAt: dayExpiresAt(d.day, this.#retentionDays),
        },
      },
    }));
    return batchWriteAll(this.#doc, this.#table, requests, `series.put.${series}`, this.#batch);
  }

  #range(series: SeriesName, fromDay: string, toDay: string): Promise<StoredItem[]> {
    const lo = seriesKeys.series(series, fromDay);
    const hi = seriesKeys.series(series, toDay);
    return queryAll(
      this.#doc,
      {
        TableName: this.#table,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
        ExpressionAttributeValues: { ':pk': lo.pk, ':lo': lo.sk, ':hi': hi.sk },
        ConsistentRead: true,
      },
      `series.range.${series}`,
    );
  }
}

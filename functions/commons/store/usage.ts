import { createHash } from 'node:crypto';
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
} from '@aws-sdk/lib-dynamodb';
import { addDays, type Decimal, daysBetween, parseDecimal } from '../units.ts';
import {
  addStats,
  type BatchWriteOptions,
  batchWriteAll,
  noWrites,
  runLimited,
  type WriteStats,
} from './batch.ts';
import { StoreError, storeCall } from './errors.ts';
import { dayExpiresAt, decimalText, keys, USAGE_PART_PREFIX, usagePartOf } from './keys.ts';
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

/** A part's figures: customer id → fingerprint (userName, upload, download as text). */
type PartEntries = Record<string, string>;

/** Attempts at a part whose version moved under us (another writer on the same part). */
const PART_ATTEMPTS = 8;
/** Parts read or written at once. */
const PART_CONCURRENCY = 4;
/** BatchGetItem's limit. */
const BATCH_GET_SIZE = 100;

function fromEntry(customerId: string, day: string, fingerprint: string): UsageRecord {
  const [userName = '', uploadMb, downloadMb] = fingerprint.split('\u0000');
  try {
    return {
      customerId,
      day,
      userName,
      uploadMb: parseDecimal(uploadMb, 'uploadMb'),
      downloadMb: parseDecimal(downloadMb, 'downloadMb'),
    };
  } catch (cause) {
    throw new StoreError(`unreadable usage entry ${day} ${customerId}`, 'usage.read', { cause });
  }
}

const byCustomerId = (a: { customerId: string }, b: { customerId: string }) =>
  a.customerId < b.customerId ? -1 : a.customerId > b.customerId ? 1 : 0;

/**
 * Per-customer daily usage, laid out so an hourly poll writes little:
 * - every day's figures live in a few part items, `USAGEDAY#<day>` / `PART#<nn>`, each a map
 *   customer id → figures (customers hashed into `USAGE_PARTS` parts); a part is rewritten
 *   only when its content changes, so an hour costs the changed parts, not the changed rows;
 * - a finished day (see `finish`) is also written once per customer, `USAGE#<customerId>` /
 *   `DAY#<day>` without index keys, so a customer's history is one range query;
 * - `USAGEFINAL` / `THROUGH` holds the last finished day and the newest day written. Days
 *   after the first are open: their figures are in the parts only.
 * Until the first `finish`, and for rows written before this layout, rows are kept as they
 * were: one item per customer and day, indexed by `gsi1` as `USAGEDAY#<day>` /
 * `CUST#<customerId>`. Readers merge both; a part's figures win over such a row.
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

  /** Upserts rows (one per customer per day). Keys must be unique within one call. */
  async put(rows: readonly UsageRecord[], at: Date): Promise<WriteStats> {
    const final = await this.#final();
    if (final === undefined) return this.#putRows(rows, at, true);
    const { through } = final;
    const newest = [final.newest, ...rows.map((r) => r.day)].sort().at(-1) as string;
    const [parts, finished] = await Promise.all([
      this.#putParts(rows, at),
      this.#putRows(
        rows.filter((r) => r.day <= through),
        at,
        false,
      ),
      // Readers look for open days only up to the newest day written, once a day.
      newest > final.newest ? this.#putFinal({ ...final, newest }, at) : undefined,
    ]);
    return addStats(parts, finished);
  }

  /**
   * Marks days as finished (their figures will not change): writes each customer's row of
   * those days once, then moves `USAGEFINAL` forward. Idempotent; call it before the poll
   * cursor moves past the days, so a failure here is retried by the next run.
   */
  async finish(days: readonly string[], at: Date): Promise<WriteStats> {
    const stats = noWrites();
    const last = [...days].sort().at(-1);
    if (last === undefined) return stats;
    const final = await this.#final();
    // Without a marker no part exists yet (rows were written per customer), so nothing to copy.
    if (final !== undefined) {
      for (const day of [...days].sort().filter((d) => d > final.through)) {
        const rows = (await this.#partItems(day, 'usage.finish')).flatMap((item) =>
          Object.entries((item.c ?? {}) as PartEntries).map(([id, f]) => fromEntry(id, day, f)),
        );
        addStats(stats, await this.#putRows(rows, at, false));
      }
    }
    if (final === undefined || last > final.through) {
      const newest = final && final.newest > last ? final.newest : last;
      await this.#putFinal({ through: last, newest }, at);
    }
    return stats;
  }

  /** One customer's rows for days in [fromDay, toDay], oldest first. */
  async byCustomer(customerId: string, fromDay: string, toDay: string): Promise<UsageRecord[]> {
    const [final, stored] = await Promise.all([
      this.#final(),
      this.storedByCustomer(customerId, fromDay, toDay),
    ]);
    const rows = new Map(stored.map((r) => [r.day, r]));
    if (final !== undefined && toDay > final.through) {
      const firstOpen = addDays(final.through, 1);
      const lastOpen = toDay < final.newest ? toDay : final.newest;
      const open = daysBetween(fromDay > firstOpen ? fromDay : firstOpen, lastOpen);
      for (const row of await this.#entriesOf(customerId, open)) rows.set(row.day, row);
    }
    return [...rows.values()].sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0));
  }

  /**
   * One customer's rows kept per customer, in one query: every finished day's, and rows from
   * before parts. Figures of open days are in the parts only (see `byCustomer`).
   */
  async storedByCustomer(
    customerId: string,
    fromDay: string,
    toDay: string,
  ): Promise<UsageRecord[]> {
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

  /** Every customer's row on one day, in customer id order (as text). */
  async onDay(day: string): Promise<UsageRecord[]> {
    return this.#day(day, 'usage.onDay');
  }

  /**
   * A day's rows with a stamp of their content (a digest of every row's customer and
   * figures): an equal stamp means equal rows.
   */
  async stampedDay(day: string): Promise<{ rows: UsageRecord[]; stamp: string }> {
    const rows = await this.#day(day, 'usage.onDay');
    const digest = createHash('sha256');
    for (const r of rows) digest.update(`${r.customerId}\u0000${usageFingerprint(r)}\u0001`);
    return { rows, stamp: digest.digest('base64url') };
  }

  /** Fingerprint of every stored row on a day, by customer id; for change detection. */
  async fingerprintsOnDay(day: string): Promise<Map<string, string>> {
    const rows = await this.#day(day, 'usage.fingerprintsOnDay');
    return new Map(rows.map((r) => [r.customerId, usageFingerprint(r)]));
  }

  /** The last finished day and the newest day written; undefined before the first `finish`. */
  async #final(): Promise<{ through: string; newest: string } | undefined> {
    const out = await storeCall('usage.final', () =>
      this.#doc.send(
        new GetCommand({ TableName: this.#table, Key: keys.usageFinal(), ConsistentRead: true }),
      ),
    );
    if (!out.Item) return undefined;
    const through = String(out.Item.through);
    return { through, newest: String(out.Item.newest ?? through) };
  }

  async #putFinal(final: { through: string; newest: string }, at: Date): Promise<void> {
    await storeCall('usage.final', () =>
      this.#doc.send(
        new PutCommand({
          TableName: this.#table,
          Item: { ...keys.usageFinal(), ...final, updatedAt: at.toISOString() },
        }),
      ),
    );
  }

  /** `indexed`: the layout from before parts, kept until the first `finish`. */
  #putRows(rows: readonly UsageRecord[], at: Date, indexed: boolean): Promise<WriteStats> {
    const updatedAt = at.toISOString();
    const requests = rows.map((r) => ({
      PutRequest: {
        Item: {
          ...(indexed ? keys.usage(r.customerId, r.day) : keys.usageFinished(r.customerId, r.day)),
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

  /** Merges rows into their parts: one read and at most one write per part touched. */
  async #putParts(rows: readonly UsageRecord[], at: Date): Promise<WriteStats> {
    const stats = noWrites();
    const groups = new Map<string, { day: string; part: number; rows: UsageRecord[] }>();
    for (const r of rows) {
      const part = usagePartOf(r.customerId);
      const id = `${r.day}#${part}`;
      const group = groups.get(id) ?? { day: r.day, part, rows: [] };
      group.rows.push(r);
      groups.set(id, group);
    }
    await runLimited([...groups.values()], PART_CONCURRENCY, async ({ day, part, rows }) => {
      const key = keys.usagePart(day, part);
      for (let attempt = 1; ; attempt++) {
        const out = await storeCall('usage.put', () =>
          this.#doc.send(
            new GetCommand({ TableName: this.#table, Key: key, ConsistentRead: true }),
          ),
        );
        const version = Number(out.Item?.v ?? 0);
        const entries: PartEntries = { ...((out.Item?.c ?? {}) as PartEntries) };
        let changed = 0;
        for (const r of rows) {
          const fingerprint = usageFingerprint(r);
          if (entries[r.customerId] === fingerprint) continue;
          entries[r.customerId] = fingerprint;
          changed++;
        }
        if (changed === 0) return;
        try {
          stats.requests++;
          await this.#doc.send(
            new PutCommand({
              TableName: this.#table,
              Item: {
                ...key,
                day,
                c: entries,
                v: version + 1,
                updatedAt: at.toISOString(),
                expiresAt: dayExpiresAt(day, this.#retentionDays),
              },
              ConditionExpression: 'attribute_not_exists(pk) OR v = :v',
              ExpressionAttributeValues: { ':v': version },
            }),
          );
          stats.items += changed;
          return;
        } catch (cause) {
          const moved = (cause as Error).name === 'ConditionalCheckFailedException';
          if (moved && attempt < PART_ATTEMPTS) {
            stats.retries++;
            continue;
          }
          throw new StoreError(`DynamoDB usage.put failed on ${key.pk} ${key.sk}`, 'usage.put', {
            cause,
            retryable: moved,
          });
        }
      }
    });
    return stats;
  }

  /** A customer's entries in the parts of the given days. */
  async #entriesOf(customerId: string, days: readonly string[]): Promise<UsageRecord[]> {
    const part = usagePartOf(customerId);
    const found: UsageRecord[] = [];
    for (let i = 0; i < days.length; i += BATCH_GET_SIZE) {
      let pending: Record<string, unknown>[] | undefined = days
        .slice(i, i + BATCH_GET_SIZE)
        .map((d) => keys.usagePart(d, part));
      while (pending && pending.length > 0) {
        const request: Record<string, unknown>[] = pending;
        const out = await storeCall('usage.byCustomer', () =>
          this.#doc.send(
            new BatchGetCommand({
              RequestItems: {
                [this.#table]: {
                  Keys: request,
                  ProjectionExpression: '#day, c.#id',
                  ExpressionAttributeNames: { '#day': 'day', '#id': customerId },
                },
              },
            }),
          ),
        );
        for (const item of out.Responses?.[this.#table] ?? []) {
          const fingerprint = (item.c as PartEntries | undefined)?.[customerId];
          if (fingerprint !== undefined) {
            found.push(fromEntry(customerId, String(item.day), fingerprint));
          }
        }
        pending = out.UnprocessedKeys?.[this.#table]?.Keys;
      }
    }
    return found;
  }

  #partItems(day: string, operation: string): Promise<StoredItem[]> {
    const { pk } = keys.usagePart(day, 0);
    return queryAll(
      this.#doc,
      {
        TableName: this.#table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :part)',
        ExpressionAttributeValues: { ':pk': pk, ':part': USAGE_PART_PREFIX },
      },
      operation,
    );
  }

  /** A day's parts merged over the indexed rows from before parts; a part's figures win. */
  async #day(day: string, operation: string): Promise<UsageRecord[]> {
    const { gsi1pk } = keys.usage('', day);
    const [parts, indexed] = await Promise.all([
      this.#partItems(day, operation),
      queryAll(
        this.#doc,
        {
          TableName: this.#table,
          IndexName: TABLE_DEFINITION.gsi1.indexName,
          KeyConditionExpression: 'gsi1pk = :pk',
          ExpressionAttributeValues: { ':pk': gsi1pk },
        },
        operation,
      ),
    ]);
    const rows = new Map(indexed.map((i) => [String(i.customerId), fromItem(i)]));
    for (const item of parts) {
      for (const [id, f] of Object.entries((item.c ?? {}) as PartEntries)) {
        rows.set(id, fromEntry(id, day, f));
      }
    }
    return [...rows.values()].sort(byCustomerId);
  }
}

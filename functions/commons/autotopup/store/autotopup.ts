import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import { monthCapKey } from '../../payments/ledger/ledger-read.ts';
import { StoreError, storeCall } from '../../store/errors.ts';
import { queryAll } from '../../store/query.ts';
import { TABLE_DEFINITION } from '../../store/table.ts';
import type { KeyPrefix } from '../../store/values.ts';
import type { AutoTopupRecord, HistoryLine } from '../types.ts';

export const KEY_PREFIXES = [
  { pk: 'AUTOTOPUP#', sk: 'STATE' },
  { pk: 'AUTOTOPUP#', sk: 'HIST#' },
] as const satisfies readonly KeyPrefix[];

/**
 * Auto top-up, one aggregate per customer (README "Data model"):
 * `AUTOTOPUP#<customer>` / `STATE` holds the settings and the running episode, and every
 * change to it is written in the same transaction as its history lines
 * (`AUTOTOPUP#<customer>` / `HIST#<at>#…`), so the history cannot miss a step. Writers
 * compare `version`: of two concurrent runs, one writes and the other learns it lost.
 */

/** The history events that change the settings (every settings change writes one). */
const SETTINGS_EVENTS = new Set(['on', 'settings', 'off']);

/** `next` as `commit` writes it: `settingsChangedAt` moves with a settings line. */
export function stamped(
  next: AutoTopupRecord,
  lines: readonly Omit<HistoryLine, 'at'>[],
): AutoTopupRecord {
  return lines.some((l) => SETTINGS_EVENTS.has(l.event))
    ? { ...next, settingsChangedAt: next.updatedAt }
    : next;
}

export const autoTopupKeys = {
  state: (customerId: string) => ({ pk: `AUTOTOPUP#${customerId}`, sk: 'STATE' }),
  /** The record's version orders lines written within one millisecond. */
  history: (customerId: string, at: string, version: number, i: number) => ({
    pk: `AUTOTOPUP#${customerId}`,
    sk: `HIST#${at}#${String(version).padStart(10, '0')}#${String(i).padStart(2, '0')}`,
  }),
} as const;

/** Customers with an open episode, for the pool's pending top-ups. */
const OPEN_INDEX = 'AUTOTOPUP#OPEN';
/**
 * Customers on, with no episode, refused a charge (`blocked`) or whose settings changed
 * (`lookAgain`, until a run looked): looked at again by every run, since a customer who
 * cannot use traffic has a balance that no longer changes.
 */
const BLOCKED_INDEX = 'AUTOTOPUP#BLOCKED';

const RECORD_ATTRS = new Set<string>([
  'customerId',
  'enabled',
  'packageId',
  'quantity',
  'belowGb',
  'orDaysLeft',
  'maxPerMonth',
  'paymentMethod',
  'stripeCustomer',
  'version',
  'episodeSeq',
  'episode',
  'lastEpisodeAt',
  'month',
  'chargesInMonth',
  'blocked',
  'poolAlerted',
  'lookAgain',
  'settingsChangedAt',
  'optInSession',
  'createdAt',
  'updatedAt',
  'updatedBy',
]);

function toRecord(item: Record<string, unknown>): AutoTopupRecord {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(item)) if (RECORD_ATTRS.has(k)) out[k] = v;
  return out as unknown as AutoTopupRecord;
}

export class AutoTopupStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async get(customerId: string): Promise<AutoTopupRecord | undefined> {
    const out = await storeCall('autotopup.get', () =>
      this.doc.send(
        new GetCommand({
          TableName: this.tableName,
          Key: autoTopupKeys.state(customerId),
          ConsistentRead: true,
        }),
      ),
    );
    return out.Item ? toRecord(out.Item) : undefined;
  }

  /**
   * The records of many customers in ⌈n/100⌉ BatchGetItem requests (plus retries of
   * unprocessed keys): a balance poll touching 10,000 customers reads them in 100.
   */
  async getMany(customerIds: readonly string[]): Promise<Map<string, AutoTopupRecord>> {
    const out = new Map<string, AutoTopupRecord>();
    const unique = [...new Set(customerIds)];
    for (let i = 0; i < unique.length; i += 100) {
      let keys: Record<string, unknown>[] = unique
        .slice(i, i + 100)
        .map((c) => autoTopupKeys.state(c));
      for (let attempt = 0; keys.length > 0; attempt++) {
        if (attempt >= 8) {
          throw new StoreError('DynamoDB autotopup.getMany left keys unread', 'autotopup.getMany', {
            retryable: true,
          });
        }
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(2000, 25 * 2 ** attempt)));
        const res = await storeCall('autotopup.getMany', () =>
          this.doc.send(
            new BatchGetCommand({
              RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } },
            }),
          ),
        );
        for (const item of res.Responses?.[this.tableName] ?? []) {
          const rec = toRecord(item);
          out.set(rec.customerId, rec);
        }
        keys = res.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      }
    }
    return out;
  }

  /** Of these customers, those auto top-up charges: turned on, with a saved card. */
  async chargedAutomatically(customerIds: readonly string[]): Promise<Set<string>> {
    const records = await this.getMany(customerIds);
    return new Set(
      [...records.values()].filter((r) => r.enabled && r.paymentMethod).map((r) => r.customerId),
    );
  }

  /**
   * Writes `next` (its `version` one more than `expectVersion`; undefined: it must be new)
   * with its history lines. False when another writer got there first: nothing was written.
   * A settings line stamps `settingsChangedAt` in the same write, whoever wrote it.
   */
  async commit(
    next: AutoTopupRecord,
    expectVersion: number | undefined,
    lines: readonly Omit<HistoryLine, 'at'>[],
  ): Promise<boolean> {
    const at = next.updatedAt;
    const index =
      next.episode !== undefined
        ? OPEN_INDEX
        : (next.blocked !== undefined || next.lookAgain) && next.enabled
          ? BLOCKED_INDEX
          : undefined;
    const state = {
      ...autoTopupKeys.state(next.customerId),
      ...stamped(next, lines),
      ...(index ? { gsi1pk: index, gsi1sk: next.customerId } : {}),
    };
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: state,
                ...(expectVersion === undefined
                  ? { ConditionExpression: 'attribute_not_exists(pk)' }
                  : {
                      ConditionExpression: 'version = :v',
                      ExpressionAttributeValues: { ':v': expectVersion },
                    }),
              },
            },
            ...lines.map((line, i) => ({
              Put: {
                TableName: this.tableName,
                Item: {
                  ...autoTopupKeys.history(next.customerId, at, next.version, i),
                  customerId: next.customerId,
                  at,
                  ...line,
                },
              },
            })),
          ],
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof Error && err.name === 'TransactionCanceledException') {
        const reasons =
          (err as Error & { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
        if (
          reasons.some(
            (r) => r.Code === 'ConditionalCheckFailed' || r.Code === 'TransactionConflict',
          )
        ) {
          return false;
        }
      }
      throw new StoreError('DynamoDB autotopup.commit failed', 'autotopup.commit', { cause: err });
    }
  }

  /** Newest first. */
  async history(customerId: string, limit = 100): Promise<HistoryLine[]> {
    const out = await storeCall('autotopup.history', () =>
      this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :h)',
          ExpressionAttributeValues: { ':pk': `AUTOTOPUP#${customerId}`, ':h': 'HIST#' },
          ScanIndexForward: false,
          Limit: limit,
        }),
      ),
    );
    return (out.Items ?? []).map((i) => ({
      at: String(i.at),
      by: String(i.by),
      event: String(i.event),
      detail: String(i.detail),
      ...(typeof i.episode === 'number' ? { episode: i.episode } : {}),
    }));
  }

  /** Every customer with an episode open (charging, pending, waiting for the customer). */
  async openEpisodes(): Promise<AutoTopupRecord[]> {
    return this.#indexed(OPEN_INDEX, 'autotopup.openEpisodes');
  }

  /** Every customer on, with no episode, refused a charge (`blocked`) or to look at (`lookAgain`). */
  async blockedCustomers(): Promise<AutoTopupRecord[]> {
    return this.#indexed(BLOCKED_INDEX, 'autotopup.blockedCustomers');
  }

  async #indexed(partition: string, op: string): Promise<AutoTopupRecord[]> {
    const items = await queryAll(
      this.doc,
      {
        TableName: this.tableName,
        IndexName: TABLE_DEFINITION.gsi1.indexName,
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': partition },
      },
      op,
    );
    return items.map(toRecord);
  }

  /** GB already credited or being credited to the customer in `month` (the payments cap). */
  async monthGb(customerId: string, month: string): Promise<string> {
    const out = await storeCall('autotopup.monthGb', () =>
      this.doc.send(
        new GetCommand({
          TableName: this.tableName,
          Key: monthCapKey(customerId, month),
          ConsistentRead: true,
        }),
      ),
    );
    const gb = out.Item?.gb;
    return gb === undefined ? '0' : String(gb);
  }
}

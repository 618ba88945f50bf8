import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type BatchWriteOptions, batchWriteAll, type WriteStats } from '../../store/batch.ts';
import { StoreError, storeCall } from '../../store/errors.ts';
import { queryAll, type StoredItem } from '../../store/query.ts';
import { TABLE_DEFINITION } from '../../store/table.ts';
import { decimalText, type KeyPrefix } from '../../store/values.ts';
import { type Decimal, parseDecimal } from '../../units.ts';

export const CUSTOMER_RECORD_PREFIX = 'REC#';

export const recordKeys = {
  /** One upstream record (myRechargeFlowList), beside the balance; by day on gsi1. */
  customerRecord: (customerId: string, recordKey: string, day: string) => ({
    pk: `CUSTOMER#${customerId}`,
    sk: `${CUSTOMER_RECORD_PREFIX}${recordKey}`,
    gsi1pk: `CUSTRECDAY#${day}`,
    gsi1sk: `${customerId}#${recordKey}`,
  }),
} as const;

export const KEY_PREFIXES = [
  { pk: 'CUSTOMER#', sk: CUSTOMER_RECORD_PREFIX },
  { index: 'gsi1', pk: 'CUSTRECDAY#', sk: '' },
] as const satisfies readonly KeyPrefix[];

/**
 * One record of myRechargeFlowList as kept for a customer's balance: a credit (type 0, any
 * channel, the vendor console included) or a deduction (type 1), its amount as a positive MB.
 */
export interface CustomerRecord {
  customerId: string;
  /** Stable identity (the upstream gives none): `createTime#type#digest#occurrence`. */
  key: string;
  /** The upstream day of `createTime`. */
  day: string;
  type: 0 | 1;
  mb: Decimal;
  account: string;
  createBy: string;
  createId: string;
  /** As the upstream sent it: `yyyy-MM-dd HH:mm:ss`, the upstream's calendar. */
  createTime: string;
  /** The same instant in ISO 8601. */
  at: string;
}

function fromItem(item: StoredItem): CustomerRecord {
  try {
    return {
      customerId: String(item.customerId),
      key: String(item.sk).slice(CUSTOMER_RECORD_PREFIX.length),
      day: String(item.day),
      type: Number(item.type) === 1 ? 1 : 0,
      mb: parseDecimal(item.mb, 'mb'),
      account: String(item.account ?? ''),
      createBy: String(item.createBy ?? ''),
      createId: String(item.createId ?? ''),
      createTime: String(item.createTime),
      at: String(item.at),
    };
  } catch (cause) {
    throw new StoreError(`unreadable customer record ${item.pk} ${item.sk}`, 'records.read', {
      cause,
    });
  }
}

/**
 * The upstream's records per customer: `CUSTOMER#<id>` / `REC#<key>` (beside the balance, in
 * time order), and by day on gsi1 (`CUSTRECDAY#<day>`) to tell new records from known ones.
 * Kept without expiry: a balance counts every record since its opening.
 */
export class CustomerRecordStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #batch: BatchWriteOptions;

  constructor(doc: DynamoDBDocumentClient, tableName: string, batch: BatchWriteOptions = {}) {
    this.#doc = doc;
    this.#table = tableName;
    this.#batch = batch;
  }

  /** `<customerId>#<key>` of every stored record of a day. */
  async knownOnDay(day: string): Promise<Set<string>> {
    const items = await queryAll(
      this.#doc,
      {
        TableName: this.#table,
        IndexName: TABLE_DEFINITION.gsi1.indexName,
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: { ':pk': recordKeys.customerRecord('', '', day).gsi1pk },
        ProjectionExpression: 'gsi1sk',
      },
      'records.knownOnDay',
    );
    return new Set(items.map((i) => String(i.gsi1sk)));
  }

  put(records: readonly CustomerRecord[], at: Date): Promise<WriteStats> {
    return batchWriteAll(
      this.#doc,
      this.#table,
      records.map((r) => ({
        PutRequest: {
          Item: {
            ...recordKeys.customerRecord(r.customerId, r.key, r.day),
            customerId: r.customerId,
            day: r.day,
            type: r.type,
            mb: decimalText(r.mb),
            account: r.account,
            createBy: r.createBy,
            createId: r.createId,
            createTime: r.createTime,
            at: r.at,
            storedAt: at.toISOString(),
          },
        },
      })),
      'records.put',
      this.#batch,
    );
  }

  /** One customer's records, oldest first; from the upstream day `fromDay` on when given. */
  async byCustomer(customerId: string, fromDay?: string): Promise<CustomerRecord[]> {
    const pk = recordKeys.customerRecord(customerId, '', '').pk;
    const items = await queryAll(
      this.#doc,
      {
        TableName: this.#table,
        // Keys start with the record's upstream time: a day is a range of them.
        KeyConditionExpression:
          fromDay === undefined
            ? 'pk = :pk AND begins_with(sk, :rec)'
            : 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues:
          fromDay === undefined
            ? { ':pk': pk, ':rec': CUSTOMER_RECORD_PREFIX }
            : {
                ':pk': pk,
                ':from': `${CUSTOMER_RECORD_PREFIX}${fromDay}`,
                ':to': `${CUSTOMER_RECORD_PREFIX}\uffff`,
              },
      },
      'records.byCustomer',
    );
    return items.map(fromItem);
  }

  /**
   * One customer's records from `fromDay` on, newest first, at most `limit`, in one request
   * whatever the history's length (the customer page); `more` when older ones were left out.
   */
  async recentByCustomer(
    customerId: string,
    fromDay: string,
    limit: number,
  ): Promise<{ records: CustomerRecord[]; more: boolean }> {
    const out = await storeCall('records.recentByCustomer', () =>
      this.#doc.send(
        new QueryCommand({
          TableName: this.#table,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
          ExpressionAttributeValues: {
            ':pk': recordKeys.customerRecord(customerId, '', '').pk,
            ':lo': `${CUSTOMER_RECORD_PREFIX}${fromDay}`,
            ':hi': `${CUSTOMER_RECORD_PREFIX}\uffff`,
          },
          ScanIndexForward: false,
          Limit: limit,
        }),
      ),
    );
    return { records: (out.Items ?? []).map(fromItem), more: out.LastEvaluatedKey !== undefined };
  }
}

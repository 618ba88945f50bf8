import {
  type DynamoDBDocumentClient,
  type NativeAttributeValue,
  PutCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import { StoreError } from '../../store/errors.ts';
import type { KeyPrefix } from '../../store/values.ts';
import { batchGetAll } from './customer-contacts.ts';
import { type OutboxEntry, outboxPut } from './notice-outbox.ts';

export const KEY_PREFIXES = [
  { pk: 'CUSTOMER#', sk: 'NOTICE-STATE' },
] as const satisfies readonly KeyPrefix[];

type Item = Record<string, NativeAttributeValue>;

/** ok, a running-low episode, or a used-up episode. */
export type NoticeLevel = 'ok' | 'low' | 'empty';

/**
 * Where one customer stands in the notice lifecycle. `episode` counts the episodes opened so
 * far: a notice's id carries it, so one episode never sends the same notice twice.
 */
export interface NoticeState {
  customerId: string;
  level: NoticeLevel;
  episode: number;
  /** When the current level began. */
  since: string;
  version: number;
}

const keyOf = (customerId: string) => ({ pk: `CUSTOMER#${customerId}`, sk: 'NOTICE-STATE' });

function fromItem(item: Item): NoticeState {
  const level = item.level === 'low' || item.level === 'empty' ? item.level : 'ok';
  return {
    customerId: String(item.customerId),
    level,
    episode: Number(item.episode ?? 0),
    since: String(item.since ?? ''),
    version: Number(item.version ?? 0),
  };
}

/** Another evaluation saved this customer's state first; the loser sends nothing. */
export class NoticeStateConflictError extends StoreError {
  override name = 'NoticeStateConflictError';
  constructor(customerId: string, options: { cause?: unknown } = {}) {
    super(`notice state of customer ${customerId} changed concurrently`, 'noticeState.commit', {
      ...options,
      retryable: false,
    });
  }
}

/** Notice lifecycle state per customer: `CUSTOMER#<id>` / `NOTICE-STATE`. */
export class NoticeStateStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #tableName: string;

  constructor(doc: DynamoDBDocumentClient, tableName: string) {
    this.#doc = doc;
    this.#tableName = tableName;
  }

  async getMany(customerIds: readonly string[]): Promise<Map<string, NoticeState>> {
    const items = await batchGetAll(
      this.#doc,
      this.#tableName,
      customerIds.map(keyOf),
      'noticeState.getMany',
    );
    return new Map(items.map((item) => [String(item.customerId), fromItem(item)]));
  }

  /**
   * Saves the next state (if the stored version is still `next.version - 1`) and creates the
   * notices' outbox entries (each only if new) in one transaction: a notice is recorded
   * exactly when its episode is, and never twice.
   */
  async commit(next: NoticeState, entries: readonly OutboxEntry[], retentionDays: number) {
    const expected = next.version - 1;
    const condition =
      expected === 0
        ? { ConditionExpression: 'attribute_not_exists(pk)' }
        : {
            ConditionExpression: '#version = :expected',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: { ':expected': expected },
          };
    const state = { ...keyOf(next.customerId), entity: 'customer-notice-state', ...next };
    if (entries.length === 0) {
      // No notice: a conditional put does it at half a transaction's cost.
      try {
        await this.#doc.send(
          new PutCommand({ TableName: this.#tableName, Item: state, ...condition }),
        );
        return;
      } catch (cause) {
        if ((cause as Error).name === 'ConditionalCheckFailedException') {
          throw new NoticeStateConflictError(next.customerId, { cause });
        }
        throw new StoreError('DynamoDB noticeState.commit failed', 'noticeState.commit', { cause });
      }
    }
    try {
      await this.#doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.#tableName,
                Item: state,
                ...condition,
              },
            },
            ...entries.map((e) => ({
              Put: {
                TableName: this.#tableName,
                Item: outboxPut(e, retentionDays),
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            })),
          ],
        }),
      );
    } catch (cause) {
      if ((cause as Error).name === 'TransactionCanceledException') {
        throw new NoticeStateConflictError(next.customerId, { cause });
      }
      throw new StoreError('DynamoDB noticeState.commit failed', 'noticeState.commit', { cause });
    }
  }
}

import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { StoreError, storeCall } from '../../store/errors.ts';
import type { StoredItem } from '../../store/query.ts';
import type { KeyPrefix } from '../../store/values.ts';

export const pollKeys = {
  poll: (fn: string, part: 'CURSOR' | 'HEALTH') => ({ pk: `POLL#${fn}`, sk: part }),
} as const;

export const KEY_PREFIXES = [
  { pk: 'POLL#', sk: 'CURSOR' },
  { pk: 'POLL#', sk: 'HEALTH' },
] as const satisfies readonly KeyPrefix[];

/** Why a poll failed: the upstream's answer (auth, transport, data). */
export type PollErrorKind = 'auth' | 'transport' | 'data';

/** How a poller is doing; the "data is stale" alert reads it. */
export interface PollHealth {
  /** The function, e.g. `poll-totals`. */
  poller: string;
  /** Failed polls since the last success (0 after a success). */
  consecutiveFailures: number;
  lastAttemptAt?: string;
  lastSuccessAt?: string;
  /** The latest failure; kept after a success for the record. */
  lastError?: { kind: PollErrorKind; message: string; at: string };
}

function healthFromItem(poller: string, item: StoredItem | undefined): PollHealth {
  const health: PollHealth = {
    poller,
    consecutiveFailures: Number(item?.consecutiveFailures ?? 0),
  };
  if (item?.lastAttemptAt) health.lastAttemptAt = String(item.lastAttemptAt);
  if (item?.lastSuccessAt) health.lastSuccessAt = String(item.lastSuccessAt);
  if (item?.lastError) health.lastError = item.lastError as PollHealth['lastError'];
  return health;
}

/** Poll cursors (`POLL#<function>` / `CURSOR`) and poll health (`POLL#<function>` / `HEALTH`). */
export class PollStateStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(doc: DynamoDBDocumentClient, tableName: string) {
    this.#doc = doc;
    this.#table = tableName;
  }

  /** The last day the poller has fully written, or undefined before its first full run. */
  async cursor(poller: string): Promise<string | undefined> {
    const out = await storeCall('pollState.cursor', () =>
      this.#doc.send(
        new GetCommand({
          TableName: this.#table,
          Key: pollKeys.poll(poller, 'CURSOR'),
          ConsistentRead: true,
        }),
      ),
    );
    return out.Item?.day === undefined ? undefined : String(out.Item.day);
  }

  /**
   * Moves the cursor to `day`, never backwards: a run that overlapped a faster one leaves
   * the further cursor alone. Returns whether it moved.
   */
  async advanceCursor(poller: string, day: string, at: Date): Promise<boolean> {
    try {
      await this.#doc.send(
        new PutCommand({
          TableName: this.#table,
          Item: { ...pollKeys.poll(poller, 'CURSOR'), day, updatedAt: at.toISOString() },
          ConditionExpression: 'attribute_not_exists(#day) OR #day <= :day',
          ExpressionAttributeNames: { '#day': 'day' },
          ExpressionAttributeValues: { ':day': day },
        }),
      );
      return true;
    } catch (cause) {
      if ((cause as Error).name === 'ConditionalCheckFailedException') return false;
      throw new StoreError('DynamoDB pollState.advanceCursor failed', 'pollState.advanceCursor', {
        cause,
      });
    }
  }

  async health(poller: string): Promise<PollHealth> {
    const out = await storeCall('pollState.health', () =>
      this.#doc.send(
        new GetCommand({
          TableName: this.#table,
          Key: pollKeys.poll(poller, 'HEALTH'),
          ConsistentRead: true,
        }),
      ),
    );
    return healthFromItem(poller, out.Item);
  }

  recordSuccess(poller: string, at: Date): Promise<PollHealth> {
    return this.#update(
      poller,
      'SET consecutiveFailures = :zero, lastSuccessAt = :at, lastAttemptAt = :at',
      {
        ':zero': 0,
        ':at': at.toISOString(),
      },
    );
  }

  recordFailure(
    poller: string,
    at: Date,
    error: { kind: PollErrorKind; message: string },
  ): Promise<PollHealth> {
    return this.#update(
      poller,
      'SET lastAttemptAt = :at, lastError = :err ADD consecutiveFailures :one',
      {
        ':at': at.toISOString(),
        ':one': 1,
        ':err': { kind: error.kind, message: error.message, at: at.toISOString() },
      },
    );
  }

  /** A run that neither failed nor finished (it ran out of time and will resume). */
  recordAttempt(poller: string, at: Date): Promise<PollHealth> {
    return this.#update(poller, 'SET lastAttemptAt = :at', { ':at': at.toISOString() });
  }

  async #update(
    poller: string,
    expression: string,
    values: Record<string, unknown>,
  ): Promise<PollHealth> {
    const out = await storeCall('pollState.health.update', () =>
      this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: pollKeys.poll(poller, 'HEALTH'),
          UpdateExpression: expression,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return healthFromItem(poller, out.Attributes);
  }
}

import { type DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { storeCall } from '../../store/errors.ts';
import { expiresAt, type KeyPrefix } from '../../store/values.ts';

export const digestKeys = {
  alertDigest: (day: string) => ({ pk: 'ALERTDIGEST', sk: `DAY#${day}` }),
} as const;

export const KEY_PREFIXES = [
  { pk: 'ALERTDIGEST', sk: 'DAY#' },
] as const satisfies readonly KeyPrefix[];

const KEEP_DAYS = 30;

const isConditionFailure = (err: unknown) =>
  (err as Error | undefined)?.name === 'ConditionalCheckFailedException';

/** The daily digest's one-per-day claim (`ALERTDIGEST` / `DAY#<local day>`). */
export class DigestClaimStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(doc: DynamoDBDocumentClient, tableName: string) {
    this.#doc = doc;
    this.#table = tableName;
  }

  /** True for the one caller that claims `day`; everyone else (and every later poll) false. */
  async claim(day: string, now: Date): Promise<boolean> {
    try {
      await this.#doc.send(
        new PutCommand({
          TableName: this.#table,
          Item: {
            ...digestKeys.alertDigest(day),
            entity: 'alert-digest',
            claimedAt: now.toISOString(),
            expiresAt: expiresAt(now, KEEP_DAYS),
          },
          // A claim given back after a failed send may be taken again.
          ConditionExpression: 'attribute_not_exists(pk) OR released = :yes',
          ExpressionAttributeValues: { ':yes': true },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      return storeCall('digest.claim', () => Promise.reject(err));
    }
  }

  /** Gives the day back after a failed send, so the next poll tries again. */
  async release(day: string): Promise<void> {
    await storeCall('digest.release', () =>
      this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: digestKeys.alertDigest(day),
          UpdateExpression: 'SET released = :yes',
          ExpressionAttributeValues: { ':yes': true },
        }),
      ),
    );
  }
}

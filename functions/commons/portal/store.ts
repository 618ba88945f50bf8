import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { storeCall } from '../store/errors.ts';
import { TABLE_DEFINITION } from '../store/table.ts';
import type { KeyPrefix } from '../store/values.ts';

export const KEY_PREFIXES = [
  { pk: 'CUSTOMER#', sk: 'PORTAL' },
  { pk: 'RATE#', sk: '' },
] as const satisfies readonly KeyPrefix[];

/**
 * The customer page's own items: `CUSTOMER#<id>` / `PORTAL` (the link version that every
 * link and session is bound to, and the customer's time zone for the page) and the rate
 * counters `RATE#<scope>#<who>` / `<window>`, which expire with DynamoDB TTL.
 */
export interface PortalRecord {
  customerId: string;
  /** Bumped by revocation: links and sessions carrying an older version are refused. */
  linkVersion: number;
  /** IANA zone the customer chose for times on the page. */
  timeZone?: string;
  /**
   * Epoch seconds of the last sign-out: sessions issued before it are refused (links are not).
   * Kept here because every view reads this record anyway.
   */
  sessionsNotBefore?: number;
  updatedAt?: string;
}

const keyOf = (customerId: string) => ({ pk: `CUSTOMER#${customerId}`, sk: 'PORTAL' });

/** Requests per customer, per source address, and Checkout Sessions created per customer. */
export type RateScope = 'customer' | 'address' | 'checkout';

export class PortalStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(doc: DynamoDBDocumentClient, tableName: string) {
    this.#doc = doc;
    this.#table = tableName;
  }

  /** The customer's record; version 0 when no link was ever revoked. */
  async get(customerId: string): Promise<PortalRecord> {
    const { Item } = await storeCall('portal.get', () =>
      this.#doc.send(
        new GetCommand({ TableName: this.#table, Key: keyOf(customerId), ConsistentRead: true }),
      ),
    );
    const out: PortalRecord = { customerId, linkVersion: Number(Item?.linkVersion ?? 0) };
    if (typeof Item?.timeZone === 'string') out.timeZone = Item.timeZone;
    if (typeof Item?.updatedAt === 'string') out.updatedAt = Item.updatedAt;
    if (typeof Item?.sessionsNotBefore === 'number') out.sessionsNotBefore = Item.sessionsNotBefore;
    return out;
  }

  /** Revokes every link and session of the customer; returns the new version. */
  async revoke(customerId: string, now: Date): Promise<number> {
    const { Attributes } = await storeCall('portal.revoke', () =>
      this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: keyOf(customerId),
          UpdateExpression: 'ADD linkVersion :one SET customerId = :c, updatedAt = :at',
          ExpressionAttributeValues: { ':one': 1, ':c': customerId, ':at': now.toISOString() },
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return Number(Attributes?.linkVersion ?? 1);
  }

  /** Sign-out: ends every session of the customer issued before `now`. */
  async endSessions(customerId: string, now: Date): Promise<void> {
    await storeCall('portal.endSessions', () =>
      this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: keyOf(customerId),
          UpdateExpression: 'SET customerId = :c, sessionsNotBefore = :t, updatedAt = :at',
          ExpressionAttributeValues: {
            ':c': customerId,
            ':t': Math.floor(now.getTime() / 1000),
            ':at': now.toISOString(),
          },
        }),
      ),
    );
  }

  async setTimeZone(customerId: string, timeZone: string, now: Date): Promise<void> {
    await storeCall('portal.setTimeZone', () =>
      this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: keyOf(customerId),
          UpdateExpression: 'SET customerId = :c, #zone = :z, updatedAt = :at',
          ExpressionAttributeNames: { '#zone': 'timeZone' },
          ExpressionAttributeValues: { ':c': customerId, ':z': timeZone, ':at': now.toISOString() },
        }),
      ),
    );
  }

  /**
   * Counts one request of `who` in the current window of `windowSeconds` and returns the
   * count so far (this one included). One UpdateItem; the item expires after its window.
   */
  async hit(scope: RateScope, who: string, now: Date, windowSeconds: number): Promise<number> {
    const epoch = Math.floor(now.getTime() / 1000);
    const window = epoch - (epoch % windowSeconds);
    const { Attributes } = await storeCall('portal.hit', () =>
      this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: `RATE#${scope}#${who}`, sk: String(window) },
          UpdateExpression: 'ADD hits :one SET #ttl = :ttl',
          ExpressionAttributeNames: { '#ttl': TABLE_DEFINITION.ttlAttribute },
          ExpressionAttributeValues: { ':one': 1, ':ttl': window + 2 * windowSeconds },
          ReturnValues: 'UPDATED_NEW',
        }),
      ),
    );
    return Number(Attributes?.hits ?? 1);
  }
}

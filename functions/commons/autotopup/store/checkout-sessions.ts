import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { storeCall } from '../../store/errors.ts';
import { expiresAt, type KeyPrefix } from '../../store/values.ts';

export const KEY_PREFIXES = [
  { pk: 'CHECKOUT#', sk: 'SESSION' },
] as const satisfies readonly KeyPrefix[];

/**
 * Checkout Sessions FlowPilot itself created (README "Auto top-up"), one item each:
 * `CHECKOUT#<Stripe session id>` / `SESSION`, written by whoever created the session before
 * the customer is sent to pay, read by the webhook when the paid session asks to save a card.
 * Kept 90 days (TTL): a session pays within a day of its creation, delayed methods within
 * days, and Stripe redelivers for three more.
 */

/** `autotopup`: the session may save a card and turn auto top-up on; `buy`: a purchase only. */
export type CreatedSessionPurpose = 'buy' | 'autotopup';

export interface CreatedSession {
  /** Stripe's `cs_…`. */
  sessionId: string;
  /** The session's `metadata.flowpilot_session`, set when it was created. */
  ref: string;
  /** Canonical customer id the session was created for. */
  customerId: string;
  purpose: CreatedSessionPurpose;
  createdAt: string;
}

const RETENTION_DAYS = 90;

export const checkoutSessionKeys = {
  session: (sessionId: string) => ({ pk: `CHECKOUT#${sessionId}`, sk: 'SESSION' }),
} as const;

export class CheckoutSessionStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** Writes the record unless one exists for the session: false then, nothing written. */
  async put(rec: CreatedSession): Promise<boolean> {
    return storeCall('checkoutSessions.put', async () => {
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              ...checkoutSessionKeys.session(rec.sessionId),
              ...rec,
              expiresAt: expiresAt(new Date(rec.createdAt), RETENTION_DAYS),
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
        return true;
      } catch (err) {
        if ((err as Error | undefined)?.name === 'ConditionalCheckFailedException') return false;
        throw err;
      }
    });
  }

  async get(sessionId: string): Promise<CreatedSession | undefined> {
    const out = await storeCall('checkoutSessions.get', () =>
      this.doc.send(
        new GetCommand({
          TableName: this.tableName,
          Key: checkoutSessionKeys.session(sessionId),
          // Written a moment before the customer was sent to pay.
          ConsistentRead: true,
        }),
      ),
    );
    const i = out.Item;
    if (!i) return undefined;
    return {
      sessionId: String(i.sessionId),
      ref: String(i.ref),
      customerId: String(i.customerId),
      purpose: i.purpose === 'autotopup' ? 'autotopup' : 'buy',
      createdAt: String(i.createdAt),
    };
  }
}

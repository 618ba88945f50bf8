import { type DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { storeCall } from '../../store/errors.ts';
import { queryAll, type StoredItem } from '../../store/query.ts';
import { expiresAt, type KeyPrefix } from '../../store/values.ts';
import type { RuleId, Silence } from '../types.ts';

export const SILENCE_PK = 'SILENCES';

export const silenceKeys = {
  silence: (id: string) => ({ pk: SILENCE_PK, sk: `SILENCE#${id}` }),
} as const;

export const KEY_PREFIXES = [
  { pk: SILENCE_PK, sk: 'SILENCE#' },
] as const satisfies readonly KeyPrefix[];

/** Ended silences stay listable this long, then TTL removes them. */
const KEEP_DAYS = 30;

function toItem(s: Silence): StoredItem {
  const item: StoredItem = {
    ...silenceKeys.silence(s.id),
    entity: 'silence',
    id: s.id,
    startsAt: s.startsAt.toISOString(),
    endsAt: s.endsAt.toISOString(),
    reason: s.reason,
    createdAt: s.createdAt.toISOString(),
    expiresAt: expiresAt(s.endsAt, KEEP_DAYS),
  };
  if (s.rule) item.rule = s.rule;
  if (s.subject) item.subject = s.subject;
  if (s.by) item.by = s.by;
  return item;
}

function fromItem(item: StoredItem): Silence {
  const s: Silence = {
    id: String(item.id),
    startsAt: new Date(String(item.startsAt)),
    endsAt: new Date(String(item.endsAt)),
    reason: String(item.reason ?? ''),
    createdAt: new Date(String(item.createdAt)),
  };
  if (typeof item.rule === 'string') s.rule = item.rule as RuleId;
  if (typeof item.subject === 'string') s.subject = item.subject;
  if (typeof item.by === 'string') s.by = item.by;
  if (typeof item.expiredAt === 'string') s.expiredAt = new Date(item.expiredAt);
  return s;
}

const isConditionFailure = (err: unknown) =>
  (err as Error | undefined)?.name === 'ConditionalCheckFailedException';

/**
 * Silences set by people (`SILENCES` / `SILENCE#<id>`, one small partition read once per
 * evaluation), kept `KEEP_DAYS` after they end so `silence list --all` can show them.
 */
export class SilenceStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(doc: DynamoDBDocumentClient, tableName: string) {
    this.#doc = doc;
    this.#table = tableName;
  }

  /** Stores a new silence; false when its id is taken. */
  async add(silence: Silence): Promise<boolean> {
    try {
      await this.#doc.send(
        new PutCommand({
          TableName: this.#table,
          Item: toItem(silence),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      return storeCall('silences.add', () => Promise.reject(err));
    }
  }

  /** Every silence still stored, newest end first. */
  async list(): Promise<Silence[]> {
    const items = await queryAll(
      this.#doc,
      {
        TableName: this.#table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': SILENCE_PK },
      },
      'silences.list',
    );
    return items.map(fromItem).sort((a, b) => b.endsAt.getTime() - a.endsAt.getTime());
  }

  /** Silences in force at `now`. */
  async active(now: Date): Promise<Silence[]> {
    return (await this.list()).filter((s) => s.startsAt <= now && now < s.endsAt);
  }

  /** Ends a silence now; the ended silence, or undefined when there is none with that id. */
  async expire(id: string, now: Date): Promise<Silence | undefined> {
    try {
      const out = await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: silenceKeys.silence(id),
          UpdateExpression: 'SET endsAt = :now, expiredAt = :now, expiresAt = :ttl',
          ConditionExpression: 'attribute_exists(pk) AND endsAt > :now',
          ExpressionAttributeValues: {
            ':now': now.toISOString(),
            ':ttl': expiresAt(now, KEEP_DAYS),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return out.Attributes ? fromItem(out.Attributes) : undefined;
    } catch (err) {
      if (!isConditionFailure(err)) return storeCall('silences.expire', () => Promise.reject(err));
      // Already over: answer with what is stored, if anything.
      return (await this.list()).find((s) => s.id === id);
    }
  }
}

import {
  type DynamoDBDocumentClient,
  type NativeAttributeValue,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { StoreError, storeCall } from '../../store/errors.ts';
import { queryAll } from '../../store/query.ts';
import { TABLE_DEFINITION } from '../../store/table.ts';
import { dayExpiresAt, expiresAt, type KeyPrefix } from '../../store/values.ts';

export const KEY_PREFIXES = [
  { pk: 'NOTICE#', sk: '' },
  { pk: 'NOTICECAP#', sk: 'DAY#' },
  { index: 'gsi1', pk: 'OUTBOX#', sk: '' },
] as const satisfies readonly KeyPrefix[];

type Item = Record<string, NativeAttributeValue>;

export type NoticeKind =
  | 'running-low'
  | 'used-up'
  | 'topped-up'
  /** Auto top-up: the bank wants 3-D Secure; the customer pays once through the link. */
  | 'autotopup-authentication'
  /** Auto top-up turned itself off after declined attempts. */
  | 'autotopup-off'
  /** To an address the customer asked for on their page: the link that confirms it. */
  | 'email-confirmation'
  /** To the address that got the notices until the customer confirmed another one. */
  | 'email-changed';
/** `none`: the customer could not be told (no contact, or opted out); kept for the operator. */
export type OutboxChannel = 'email' | 'sms' | 'none';
/**
 * `pending` (to send now, or again after a crash), `deferred` (SMS in quiet hours), `retry`
 * (a send failed, tried again later), then one of `sent`, `printed` (local runtime), `failed`
 * (attempts used up), `skipped` (no contact, opted out, country not allowed), `dropped` (out
 * of date when due, or the customer was forgotten) or `capped` (over the daily cap).
 */
export type OutboxStatus =
  | 'pending'
  | 'deferred'
  | 'retry'
  | 'sent'
  | 'printed'
  | 'failed'
  | 'skipped'
  | 'dropped'
  | 'capped';

/** Why an entry was skipped, deferred, dropped or capped. */
export type OutboxReason =
  | 'notices disabled'
  | 'opted out'
  | 'no contact'
  | 'country not allowed'
  | 'quiet hours'
  | 'episode over'
  | 'channel off'
  | 'customer forgotten'
  | `over the daily cap of ${number}`;

const OPEN: readonly OutboxStatus[] = ['pending', 'deferred', 'retry'];

/** One notice on one channel. Holds the recipient: never log it, show it masked. */
export interface OutboxEntry {
  customerId: string;
  /**
   * `running-low#3`, `used-up#4`, `topped-up#<credit>`, `autotopup-off#<episode>`: the same
   * notice has the same id.
   */
  noticeId: string;
  kind: NoticeKind;
  channel: OutboxChannel;
  status: OutboxStatus;
  /** Why it was skipped, dropped or capped (an OutboxReason), or the channel's word on a failed send. */
  reason?: OutboxReason | (string & {});
  locale: string;
  to?: string;
  subject?: string;
  text: string;
  /** Email header fields besides the usual ones (`List-Unsubscribe`, RFC 8058). */
  headers?: Record<string, string>;
  /** The episode a running-low or used-up notice belongs to. */
  episode?: number;
  createdAt: string;
  /** When an open entry is next due. */
  notBefore?: string;
  attempts: number;
  messageId?: string;
  sentAt?: string;
}

export const DUE_INDEX_PK = 'OUTBOX#due';
/** What an erased entry's text reads. */
const ERASED_TEXT = '(erased)';

const keyOf = (customerId: string, noticeId: string, channel: OutboxChannel) => ({
  pk: `NOTICE#${customerId}`,
  sk: `${noticeId}#${channel}`,
});

/** Open entries sit in `OUTBOX#due` by due time; closed ones in `OUTBOX#<day>` by creation. */
function indexOf(
  e: Pick<OutboxEntry, 'status' | 'notBefore' | 'createdAt' | 'customerId'>,
  sk: string,
) {
  if (OPEN.includes(e.status)) {
    return { gsi1pk: DUE_INDEX_PK, gsi1sk: `${e.notBefore ?? e.createdAt}#${e.customerId}#${sk}` };
  }
  return {
    gsi1pk: `OUTBOX#${e.createdAt.slice(0, 10)}`,
    gsi1sk: `${e.createdAt}#${e.customerId}#${sk}`,
  };
}

/** The item for a new entry (the notice-state transaction writes it). */
export function outboxPut(e: OutboxEntry, retentionDays: number): Item {
  const key = keyOf(e.customerId, e.noticeId, e.channel);
  return {
    ...key,
    ...indexOf(e, key.sk),
    entity: 'notice-outbox',
    ...e,
    [TABLE_DEFINITION.ttlAttribute]: expiresAt(new Date(e.createdAt), retentionDays),
  };
}

function fromItem(item: Item): OutboxEntry {
  const out: OutboxEntry = {
    customerId: String(item.customerId),
    noticeId: String(item.noticeId),
    kind: item.kind as NoticeKind,
    channel: item.channel as OutboxChannel,
    status: item.status as OutboxStatus,
    locale: String(item.locale),
    text: String(item.text ?? ''),
    createdAt: String(item.createdAt),
    attempts: Number(item.attempts ?? 0),
  };
  for (const k of ['reason', 'to', 'subject', 'notBefore', 'messageId', 'sentAt'] as const) {
    if (typeof item[k] === 'string') out[k] = item[k];
  }
  if (typeof item.episode === 'number') out.episode = item.episode;
  if (typeof item.headers === 'object' && item.headers !== null) {
    out.headers = Object.fromEntries(
      Object.entries(item.headers as Item).filter(([, v]) => typeof v === 'string'),
    ) as Record<string, string>;
  }
  return out;
}

/** The outbox of customer notices: `NOTICE#<customerId>` / `<noticeId>#<channel>`. */
export class NoticeOutboxStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #tableName: string;

  constructor(doc: DynamoDBDocumentClient, tableName: string) {
    this.#doc = doc;
    this.#tableName = tableName;
  }

  /**
   * Takes an open entry for one attempt: only if it is still as read (status and due time),
   * so of two runs finding it due only one sends. It stays due `leaseMs` later in case this
   * run dies. Returns the claimed entry, or undefined when another run has it.
   */
  async claim(e: OutboxEntry, now: Date, leaseMs: number): Promise<OutboxEntry | undefined> {
    const key = keyOf(e.customerId, e.noticeId, e.channel);
    const claimed: OutboxEntry = {
      ...e,
      status: 'pending',
      notBefore: new Date(now.getTime() + leaseMs).toISOString(),
      attempts: e.attempts + 1,
    };
    const index = indexOf(claimed, key.sk);
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: key,
          UpdateExpression:
            'SET #status = :pending, notBefore = :nb, attempts = :attempts, gsi1pk = :gpk, gsi1sk = :gsk',
          ConditionExpression: '#status = :status AND attempts = :seen',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':pending': 'pending',
            ':nb': claimed.notBefore,
            ':attempts': claimed.attempts,
            ':gpk': index.gsi1pk,
            ':gsk': index.gsi1sk,
            ':status': e.status,
            ':seen': e.attempts,
          },
        }),
      );
      return claimed;
    } catch (cause) {
      if ((cause as Error).name === 'ConditionalCheckFailedException') return undefined;
      throw new StoreError('DynamoDB outbox.claim failed', 'outbox.claim', { cause });
    }
  }

  /** Records how a claimed attempt ended (closed, or open again for a later attempt). */
  async settle(
    e: OutboxEntry,
    outcome: Pick<OutboxEntry, 'status'> &
      Partial<Pick<OutboxEntry, 'reason' | 'messageId' | 'sentAt' | 'notBefore'>>,
  ): Promise<OutboxEntry> {
    const key = keyOf(e.customerId, e.noticeId, e.channel);
    const next: OutboxEntry = { ...e, ...outcome };
    const index = indexOf(next, key.sk);
    const set = ['#status = :status', 'gsi1pk = :gpk', 'gsi1sk = :gsk'];
    const values: Item = { ':status': next.status, ':gpk': index.gsi1pk, ':gsk': index.gsi1sk };
    for (const k of ['reason', 'messageId', 'sentAt', 'notBefore'] as const) {
      const v = outcome[k];
      if (v !== undefined) {
        set.push(`${k} = :${k}`);
        values[`:${k}`] = v;
      }
    }
    values[':attempts'] = e.attempts;
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: key,
          UpdateExpression: `SET ${set.join(', ')}`,
          // Only the attempt that claimed it settles it.
          ConditionExpression: 'attempts = :attempts',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: values,
        }),
      );
    } catch (cause) {
      if ((cause as Error).name === 'ConditionalCheckFailedException') return next;
      throw new StoreError('DynamoDB outbox.settle failed', 'outbox.settle', { cause });
    }
    return next;
  }

  /**
   * Creates entries that are not there yet (a notice with no episode state behind it);
   * answers the ones it created, so a notice seen again is not sent again.
   */
  async addNew(entries: readonly OutboxEntry[], retentionDays: number): Promise<OutboxEntry[]> {
    const added: OutboxEntry[] = [];
    for (const e of entries) {
      try {
        await this.#doc.send(
          new PutCommand({
            TableName: this.#tableName,
            Item: outboxPut(e, retentionDays),
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
        added.push(e);
      } catch (cause) {
        if ((cause as Error).name === 'ConditionalCheckFailedException') continue;
        throw new StoreError('DynamoDB outbox.addNew failed', 'outbox.addNew', { cause });
      }
    }
    return added;
  }

  /**
   * Counts one more `channel` notice for the customer on `day` (an atomic counter, kept two
   * days), unless `limit` are counted already: false then, and nothing is counted.
   */
  async countSend(
    customerId: string,
    channel: OutboxChannel,
    day: string,
    limit: number,
  ): Promise<boolean> {
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: { pk: `NOTICECAP#${customerId}`, sk: `DAY#${day}#${channel}` },
          UpdateExpression: 'SET entity = :entity, #ttl = :ttl ADD #n :one',
          ConditionExpression: 'attribute_not_exists(#n) OR #n < :limit',
          ExpressionAttributeNames: { '#n': 'count', '#ttl': TABLE_DEFINITION.ttlAttribute },
          ExpressionAttributeValues: {
            ':entity': 'notice-cap',
            ':ttl': dayExpiresAt(day, 2),
            ':one': 1,
            ':limit': limit,
          },
        }),
      );
      return true;
    } catch (cause) {
      if ((cause as Error).name === 'ConditionalCheckFailedException') return false;
      throw new StoreError('DynamoDB outbox.countSend failed', 'outbox.countSend', { cause });
    }
  }

  /**
   * Erasure: every entry of the customer keeps its kind, channel, status and times, but its
   * recipient is masked and its text (greeting, account) erased; an open one is dropped so
   * that it is never sent. Answers how many entries were erased.
   */
  async erase(customerId: string, mask: (to: string) => string): Promise<number> {
    const entries = await this.forCustomer(customerId);
    for (const e of entries) {
      const open = OPEN.includes(e.status);
      const next: OutboxEntry = {
        ...e,
        ...(open ? { status: 'dropped' as const, reason: 'customer forgotten' as const } : {}),
      };
      const key = keyOf(e.customerId, e.noticeId, e.channel);
      const index = indexOf(next, key.sk);
      await storeCall('outbox.erase', () =>
        this.#doc.send(
          new UpdateCommand({
            TableName: this.#tableName,
            Key: key,
            UpdateExpression: `SET #text = :text, #status = :status, gsi1pk = :gpk, gsi1sk = :gsk${
              next.reason === undefined ? '' : ', reason = :reason'
            }${e.to ? ', #to = :to' : ''} REMOVE subject`,
            ExpressionAttributeNames: {
              '#text': 'text',
              '#status': 'status',
              ...(e.to ? { '#to': 'to' } : {}),
            },
            ExpressionAttributeValues: {
              ':text': ERASED_TEXT,
              ':status': next.status,
              ':gpk': index.gsi1pk,
              ':gsk': index.gsi1sk,
              ...(next.reason === undefined ? {} : { ':reason': next.reason }),
              ...(e.to ? { ':to': mask(e.to) } : {}),
            },
          }),
        ),
      );
    }
    return entries.length;
  }

  /** Open entries due at `now`, oldest first. */
  async due(now: Date, limit = 200): Promise<OutboxEntry[]> {
    const { Items } = await storeCall('outbox.due', () =>
      this.#doc.send(
        new QueryCommand({
          TableName: this.#tableName,
          IndexName: TABLE_DEFINITION.gsi1.indexName,
          KeyConditionExpression: 'gsi1pk = :pk AND gsi1sk <= :now',
          ExpressionAttributeValues: { ':pk': DUE_INDEX_PK, ':now': `${now.toISOString()}~` },
          Limit: limit,
        }),
      ),
    );
    return (Items ?? []).map(fromItem);
  }

  /** Every open entry, due or not (the operator's view). */
  async open(): Promise<OutboxEntry[]> {
    const items = await queryAll(
      this.#doc,
      {
        TableName: this.#tableName,
        IndexName: TABLE_DEFINITION.gsi1.indexName,
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: { ':pk': DUE_INDEX_PK },
      },
      'outbox.open',
    );
    return items.map(fromItem);
  }

  /** One customer's entries, newest first. */
  async forCustomer(customerId: string): Promise<OutboxEntry[]> {
    const items = await queryAll(
      this.#doc,
      {
        TableName: this.#tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `NOTICE#${customerId}` },
        ConsistentRead: true,
      },
      'outbox.forCustomer',
    );
    return items.map(fromItem).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** Closed entries created on the given UTC days, newest first, at most `limit`. */
  async recent(days: readonly string[], limit: number): Promise<OutboxEntry[]> {
    const out: OutboxEntry[] = [];
    for (const day of days) {
      if (out.length >= limit) break;
      const { Items } = await storeCall('outbox.recent', () =>
        this.#doc.send(
          new QueryCommand({
            TableName: this.#tableName,
            IndexName: TABLE_DEFINITION.gsi1.indexName,
            KeyConditionExpression: 'gsi1pk = :pk',
            ExpressionAttributeValues: { ':pk': `OUTBOX#${day}` },
            ScanIndexForward: false,
            Limit: limit - out.length,
          }),
        ),
      );
      out.push(...(Items ?? []).map(fromItem));
    }
    return out;
  }
}

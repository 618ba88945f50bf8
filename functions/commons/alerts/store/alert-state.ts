import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { docClient } from '../../clients/dynamodb.ts';
import { FlowPilotError } from '../../errors.ts';
import { TABLE_DEFINITION } from '../../store/table.ts';
import type { KeyPrefix } from '../../store/values.ts';
import type {
  AlertAck,
  AlertState,
  AlertStatus,
  NoticeKind,
  Quieted,
  RuleId,
  Severity,
} from '../types.ts';

/** The state changed since it was read: another evaluation won; the loser must not notify. */
export class AlertStateConflictError extends FlowPilotError {
  override name = 'AlertStateConflictError';
  /** The state that won, when DynamoDB returned it. */
  readonly current: AlertState | undefined;

  constructor(
    rule: RuleId,
    subject: string,
    current?: AlertState,
    options: { cause?: unknown } = {},
  ) {
    super(`alert state ${rule}/${subject} changed concurrently`, { ...options, statusCode: 409 });
    this.current = current;
  }
}

/** DynamoDB failed for a reason other than a lost race. */
export class AlertStoreError extends FlowPilotError {
  override name = 'AlertStoreError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, statusCode: 500 });
  }
}

export const OPEN_ALERTS_PK = 'ALERTS#open';

export const KEY_PREFIXES = [
  { pk: 'ALERT#', sk: 'SUBJECT#' },
  { index: 'gsi1', pk: OPEN_ALERTS_PK, sk: '' },
] as const satisfies readonly KeyPrefix[];

const keyOf = (rule: RuleId, subject: string) => ({
  [TABLE_DEFINITION.partitionKey]: `ALERT#${rule}`,
  [TABLE_DEFINITION.sortKey]: `SUBJECT#${subject}`,
});

interface AlertItem {
  pk: string;
  sk: string;
  gsi1pk?: string;
  gsi1sk?: string;
  entity: 'alert-state';
  rule: string;
  subject: string;
  status: string;
  version: number;
  previousStatus?: string;
  openedAt?: string;
  lastNotifiedAt?: string;
  holdStatus?: string;
  holdCount?: number;
  pendingNotice?: string;
  summary?: string;
  event?: { summary: string; details: Record<string, string> };
  clearCount?: number;
  recent?: string;
  flapping?: { since: string; worst: string };
  heldNotice?: string;
  quieted?: string;
  ack?: { at: string; by?: string; until?: string };
  updatedAt: string;
}

function toItem(state: AlertState): AlertItem {
  // A flapping subject is news even while its status is ok, and so is a notice held back
  // (an event's "resolved" is released by the reminder run, which lists these).
  const open = state.status !== 'ok' || state.flapping !== undefined || !!state.heldNotice;
  const item: AlertItem = {
    pk: `ALERT#${state.rule}`,
    sk: `SUBJECT#${state.subject}`,
    entity: 'alert-state',
    rule: state.rule,
    subject: state.subject,
    status: state.status,
    version: state.version,
    updatedAt: state.updatedAt.toISOString(),
  };
  // Only open alerts are in the index, so listing them reads nothing else.
  if (open) {
    item.gsi1pk = OPEN_ALERTS_PK;
    item.gsi1sk = `${state.rule}#${state.subject}`;
  }
  if (state.previousStatus) item.previousStatus = state.previousStatus;
  if (state.openedAt) item.openedAt = state.openedAt.toISOString();
  if (state.lastNotifiedAt) item.lastNotifiedAt = state.lastNotifiedAt.toISOString();
  if (state.holdStatus) item.holdStatus = state.holdStatus;
  if (state.holdCount !== undefined) item.holdCount = state.holdCount;
  if (state.pendingNotice) item.pendingNotice = state.pendingNotice;
  if (state.summary) item.summary = state.summary;
  if (state.event) item.event = { summary: state.event.summary, details: state.event.details };
  if (state.clearCount !== undefined) item.clearCount = state.clearCount;
  if (state.recent) item.recent = state.recent;
  if (state.flapping) {
    item.flapping = { since: state.flapping.since.toISOString(), worst: state.flapping.worst };
  }
  if (state.heldNotice) item.heldNotice = state.heldNotice;
  if (state.quieted) item.quieted = state.quieted;
  if (state.ack) item.ack = ackItem(state.ack);
  return item;
}

function ackItem(ack: AlertAck): NonNullable<AlertItem['ack']> {
  const item: NonNullable<AlertItem['ack']> = { at: ack.at.toISOString() };
  if (ack.by) item.by = ack.by;
  if (ack.until) item.until = ack.until.toISOString();
  return item;
}

const date = (value: unknown) => (typeof value === 'string' ? new Date(value) : undefined);

function fromItem(item: Record<string, unknown>): AlertState {
  const state: AlertState = {
    rule: String(item.rule) as RuleId,
    subject: String(item.subject),
    status: String(item.status) as AlertStatus,
    version: Number(item.version),
    updatedAt: date(item.updatedAt) ?? new Date(0),
  };
  const openedAt = date(item.openedAt);
  const lastNotifiedAt = date(item.lastNotifiedAt);
  if (typeof item.previousStatus === 'string') {
    state.previousStatus = item.previousStatus as AlertStatus;
  }
  if (openedAt) state.openedAt = openedAt;
  if (lastNotifiedAt) state.lastNotifiedAt = lastNotifiedAt;
  if (typeof item.holdStatus === 'string') state.holdStatus = item.holdStatus as Severity;
  if (typeof item.holdCount === 'number') state.holdCount = item.holdCount;
  if (typeof item.pendingNotice === 'string')
    state.pendingNotice = item.pendingNotice as NoticeKind;
  if (typeof item.summary === 'string') state.summary = item.summary;
  const event = eventOf(item.event);
  if (event) state.event = event;
  if (typeof item.clearCount === 'number') state.clearCount = item.clearCount;
  if (typeof item.recent === 'string') state.recent = item.recent;
  const flapping = item.flapping as Record<string, unknown> | undefined;
  const flappingSince = date(flapping?.since);
  if (flappingSince) {
    state.flapping = { since: flappingSince, worst: String(flapping?.worst) as Severity };
  }
  if (typeof item.heldNotice === 'string') state.heldNotice = item.heldNotice as NoticeKind;
  if (typeof item.quieted === 'string') state.quieted = item.quieted as Quieted;
  const ack = item.ack as Record<string, unknown> | undefined;
  const ackAt = date(ack?.at);
  if (ackAt) {
    state.ack = { at: ackAt };
    if (typeof ack?.by === 'string') state.ack.by = ack.by;
    const until = date(ack?.until);
    if (until) state.ack.until = until;
  }
  return state;
}

function eventOf(value: unknown): AlertState['event'] {
  if (typeof value !== 'object' || value === null) return undefined;
  const { summary, details } = value as Record<string, unknown>;
  if (typeof summary !== 'string') return undefined;
  const texts: Record<string, string> = {};
  if (typeof details === 'object' && details !== null) {
    for (const [k, v] of Object.entries(details)) if (typeof v === 'string') texts[k] = v;
  }
  return { summary, details: texts };
}

function isConditionFailure(err: unknown): err is Error & { Item?: Record<string, unknown> } {
  return (err as Error | undefined)?.name === 'ConditionalCheckFailedException';
}

/**
 * Alert lifecycle state in the single table: `ALERT#<rule>` / `SUBJECT#<subject>`, and while
 * not ok `ALERTS#open` / `<rule>#<subject>` on gsi1. Every write is conditional on the version
 * read, so of two concurrent evaluations exactly one wins.
 */
export class AlertStateStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;

  constructor(options: { tableName: string; client?: DynamoDBDocumentClient }) {
    this.#tableName = options.tableName;
    this.#client = options.client ?? docClient;
  }

  async get(rule: RuleId, subject: string): Promise<AlertState | undefined> {
    try {
      const { Item } = await this.#client.send(
        new GetCommand({
          TableName: this.#tableName,
          Key: keyOf(rule, subject),
          ConsistentRead: true,
        }),
      );
      return Item ? fromItem(Item) : undefined;
    } catch (cause) {
      throw new AlertStoreError(`cannot read alert state ${rule}/${subject}`, { cause });
    }
  }

  /**
   * Writes `next` if the stored version is still `expectedVersion` (`undefined`: no state
   * yet). Throws AlertStateConflictError, carrying the winner's state, when it is not.
   */
  async save(next: AlertState, expectedVersion: number | undefined): Promise<void> {
    const condition =
      expectedVersion === undefined
        ? { ConditionExpression: 'attribute_not_exists(pk)' }
        : {
            ConditionExpression: '#version = :expected',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: { ':expected': expectedVersion },
          };
    try {
      await this.#client.send(
        new PutCommand({
          TableName: this.#tableName,
          Item: toItem(next),
          ...condition,
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    } catch (cause) {
      if (isConditionFailure(cause)) {
        const current = cause.Item ? fromItem(cause.Item) : undefined;
        throw new AlertStateConflictError(next.rule, next.subject, current, { cause });
      }
      throw new AlertStoreError(`cannot write alert state ${next.rule}/${next.subject}`, {
        cause,
      });
    }
  }

  /**
   * Records that a notice for `version` was not delivered, so the next evaluation sends it.
   * Returns false when the state moved on meanwhile (the newer writer owns the news). The
   * mark is a new version, so a writer that read the state before it loses its race instead
   * of erasing the pending notice.
   */
  async markPending(state: AlertState, notice: NoticeKind): Promise<boolean> {
    try {
      await this.#client.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: keyOf(state.rule, state.subject),
          UpdateExpression: 'SET pendingNotice = :notice, #version = :next',
          ConditionExpression: '#version = :version',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: {
            ':notice': notice,
            ':version': state.version,
            ':next': state.version + 1,
          },
        }),
      );
      return true;
    } catch (cause) {
      if (isConditionFailure(cause)) return false;
      throw new AlertStoreError(`cannot mark alert ${state.rule}/${state.subject} pending`, {
        cause,
      });
    }
  }

  /**
   * Records that a person saw an open alert: no reminders until its status changes (or
   * `ack.until`). Undefined when the alert is not open. Retries when an evaluation wrote
   * the state meanwhile.
   */
  async acknowledge(rule: RuleId, subject: string, ack: AlertAck): Promise<AlertState | undefined> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const state = await this.get(rule, subject);
      if (!state || (state.status === 'ok' && !state.flapping)) return undefined;
      const next: AlertState = { ...state, ack, version: state.version + 1, updatedAt: ack.at };
      try {
        await this.save(next, state.version);
        return next;
      } catch (err) {
        if (!(err instanceof AlertStateConflictError)) throw err;
      }
    }
    throw new AlertStoreError(`alert ${rule}/${subject} kept changing; try the ack again`);
  }

  /** Alerts currently warning or critical (or flapping), ordered by rule and subject. */
  async listOpenAlerts(): Promise<AlertState[]> {
    const out: AlertState[] = [];
    let startKey: Record<string, unknown> | undefined;
    try {
      do {
        const page = await this.#client.send(
          new QueryCommand({
            TableName: this.#tableName,
            IndexName: TABLE_DEFINITION.gsi1.indexName,
            KeyConditionExpression: '#pk = :open',
            ExpressionAttributeNames: { '#pk': TABLE_DEFINITION.gsi1.partitionKey },
            ExpressionAttributeValues: { ':open': OPEN_ALERTS_PK },
            ExclusiveStartKey: startKey,
          }),
        );
        for (const item of page.Items ?? []) out.push(fromItem(item));
        startKey = page.LastEvaluatedKey;
      } while (startKey);
    } catch (cause) {
      throw new AlertStoreError('cannot list open alerts', { cause });
    }
    return out;
  }
}

import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient, TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { queryAll, type StoredItem } from '../../store/query.ts';
import { TABLE_DEFINITION } from '../../store/table.ts';
import type { KeyPrefix } from '../../store/values.ts';
import type { Decimal } from '../../units.ts';

export const KEY_PREFIXES = [
  { pk: 'ORDER#', sk: 'ORDER' },
  { pk: 'ORDER#', sk: 'DEDUCT#' },
  { pk: 'CUSTMONTH#', sk: '' },
  { pk: 'PI#', sk: 'PI' },
  { pk: 'PENDING#', sk: 'HEAD' },
  { index: 'gsi1', pk: 'ORDERS#', sk: '' },
] as const satisfies readonly KeyPrefix[];

/**
 * What the ledger's aggregates (orders, refund parts, month caps) share: their keys, and the
 * few DynamoDB idioms every conditional write of theirs needs.
 */

export interface OrderKey {
  provider: string;
  paymentId: string;
}

export const ledgerKeys = {
  order: (k: OrderKey) => ({ pk: `ORDER#${k.provider}#${k.paymentId}`, sk: 'ORDER' }),
  part: (k: OrderKey, partId: string) => ({
    pk: `ORDER#${k.provider}#${k.paymentId}`,
    sk: `DEDUCT#${partId}`,
  }),
  month: (customerId: string, month: string) => ({ pk: `CUSTMONTH#${customerId}`, sk: month }),
  paymentIntent: (id: string) => ({ pk: `PI#${id}`, sk: 'PI' }),
  /** Refunds and disputes recorded before their payment could take them (by payment ref). */
  pending: (provider: string, ref: string) => ({ pk: `PENDING#${provider}#${ref}`, sk: 'HEAD' }),
} as const;

export type TxItems = NonNullable<TransactWriteCommandInput['TransactItems']>;

export const stateIndex = (state: string, at: string) => ({
  gsi1pk: `ORDERS#${state}`,
  gsi1sk: at,
});

export function pick<T>(item: Record<string, unknown>, attrs: ReadonlySet<string>): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(item)) if (attrs.has(k)) out[k] = v;
  return out as T;
}

/** Items on SDK errors (ALL_OLD) come marshalled: the document client leaves errors alone. */
export function oldItem(raw: unknown): Record<string, unknown> | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  return unmarshall(raw as Record<string, AttributeValue>);
}

export interface CancellationReason {
  Code?: string;
  Item?: unknown;
}

export function cancellationReasons(err: unknown): CancellationReason[] | undefined {
  if (!(err instanceof Error) || err.name !== 'TransactionCanceledException') return undefined;
  return (err as Error & { CancellationReasons?: CancellationReason[] }).CancellationReasons ?? [];
}

export function isConditionFailed(err: unknown): err is Error & { Item?: unknown } {
  return err instanceof Error && err.name === 'ConditionalCheckFailedException';
}

/** `, #a = :a, …` for the attributes that have a value; the others are left as they are. */
export function optionalSets(attrs: Record<string, unknown>): {
  clause: string;
  names: Record<string, string>;
  values: Record<string, unknown>;
} {
  let clause = '';
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined) continue;
    clause += `, #${name} = :${name}`;
    names[`#${name}`] = name;
    values[`:${name}`] = value;
  }
  return { clause, names, values };
}

/** `version` condition: old items carry none, which counts as 0. */
export function versionIs(version: number): {
  condition: string;
  names: Record<string, string>;
  values: Record<string, unknown>;
} {
  return {
    condition:
      version === 0 ? '(attribute_not_exists(#version) OR #version = :v)' : '#version = :v',
    names: { '#version': 'version' },
    values: { ':v': version },
  };
}

/** A credit the reconciliation compares with the upstream's records. */
export interface CreditInRange {
  orderKey: string;
  customerId: string;
  gb: Decimal;
  creditedAt: Date;
  /** First claimed: the upstream applied it between this and creditedAt (a heal stamps later). */
  createdAt: Date;
}

/** A paid order not credited yet (RECEIVED or CREDITING): the upstream may have applied it. */
export interface PaidNotCredited {
  orderKey: string;
  customerId: string;
  gb: Decimal;
  /** First claimed: the upstream applies it at this time or later. */
  createdAt: Date;
}

/** Ledger items filed under `gsi1pk` with an index time in [from, to], every page. */
export function creditsInRange(
  doc: DynamoDBDocumentClient,
  tableName: string,
  gsi1pk: string,
  from: Date,
  to: Date,
  operation: string,
): Promise<StoredItem[]> {
  return queryAll(
    doc,
    {
      TableName: tableName,
      IndexName: TABLE_DEFINITION.gsi1.indexName,
      KeyConditionExpression: 'gsi1pk = :pk AND gsi1sk BETWEEN :from AND :to',
      ExpressionAttributeValues: {
        ':pk': gsi1pk,
        ':from': from.toISOString(),
        ':to': to.toISOString(),
      },
    },
    operation,
  );
}

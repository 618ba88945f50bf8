import type { NativeAttributeValue } from '@aws-sdk/lib-dynamodb';
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isThrottle, StoreError } from './errors.ts';

type Item = Record<string, NativeAttributeValue>;
export type WriteRequest = { PutRequest: { Item: Item } } | { DeleteRequest: { Key: Item } };

/** BatchWriteItem's limit. */
export const BATCH_SIZE = 25;

export interface BatchWriteOptions {
  /** Attempts per batch of 25, the first one included. @default 8 */
  maxAttempts?: number;
  /** @default 25 */
  baseDelayMs?: number;
  /** @default 2000 */
  maxDelayMs?: number;
  /** Batches in flight at once. @default 4 */
  concurrency?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface WriteStats {
  /** BatchWriteItem (or other write) requests sent, retries included. */
  requests: number;
  /** Items written. */
  items: number;
  /** Requests that were repeats for unprocessed items or throttling. */
  retries: number;
}

export const noWrites = (): WriteStats => ({ requests: 0, items: 0, retries: 0 });

export function addStats(into: WriteStats, more: WriteStats): WriteStats {
  into.requests += more.requests;
  into.items += more.items;
  into.retries += more.retries;
  return into;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs `fn` over `items` with at most `limit` calls pending. After a failure no new call
 * starts; the running ones are awaited, then the first failure is thrown, so nothing is left
 * writing behind the caller's back.
 */
export async function runLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}

/**
 * Writes every request with BatchWriteItem, 25 at a time. `UnprocessedItems` and throttled
 * calls are sent again after an exponential backoff with full jitter (what AWS advises so
 * that retries of parallel writers spread out); anything still unwritten after
 * `maxAttempts` fails the whole call with a retryable StoreError. Puts are idempotent, so a
 * caller may simply repeat a failed call.
 */
export async function batchWriteAll(
  doc: DynamoDBDocumentClient,
  tableName: string,
  requests: readonly WriteRequest[],
  operation: string,
  options: BatchWriteOptions = {},
): Promise<WriteStats> {
  const maxAttempts = options.maxAttempts ?? 8;
  const base = options.baseDelayMs ?? 25;
  const cap = options.maxDelayMs ?? 2000;
  const sleep = options.sleep ?? defaultSleep;
  const stats = noWrites();

  const chunks: WriteRequest[][] = [];
  for (let i = 0; i < requests.length; i += BATCH_SIZE) {
    chunks.push(requests.slice(i, i + BATCH_SIZE));
  }

  const writeChunk = async (chunk: WriteRequest[]) => {
    let pending = chunk;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) {
        stats.retries++;
        await sleep(Math.random() * Math.min(cap, base * 2 ** attempt));
      }
      stats.requests++;
      try {
        const out = await doc.send(
          new BatchWriteCommand({ RequestItems: { [tableName]: pending } }),
        );
        const left = (out.UnprocessedItems?.[tableName] ?? []) as WriteRequest[];
        stats.items += pending.length - left.length;
        pending = left;
      } catch (cause) {
        if (!isThrottle(cause)) {
          throw new StoreError(`DynamoDB ${operation} failed`, operation, { cause });
        }
        if (attempt + 1 >= maxAttempts) {
          throw new StoreError(`DynamoDB ${operation} throttled`, operation, { cause });
        }
        continue;
      }
      if (pending.length === 0) return;
      if (attempt + 1 >= maxAttempts) {
        throw new StoreError(
          `DynamoDB ${operation}: ${pending.length} items unprocessed after ${maxAttempts} attempts`,
          operation,
          { retryable: true },
        );
      }
    }
  };

  await runLimited(chunks, options.concurrency ?? 4, writeChunk);
  return stats;
}

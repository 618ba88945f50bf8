import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

type RequestItems = Record<string, unknown[]>;

function batchWriteItems(input: unknown): RequestItems | undefined {
  const items = (input as { RequestItems?: RequestItems }).RequestItems;
  const first = items && Object.values(items)[0];
  // BatchGetItem also has RequestItems, as an object of Keys rather than a list.
  return Array.isArray(first) ? items : undefined;
}

export interface WriteCounter {
  /** BatchWriteItem requests that reached the engine. */
  batchWrites: number;
  /** Items those requests carried. */
  items: number;
  /** Single-item writes (Put, Update, Delete). */
  singleWrites: number;
}

/** Counts the write requests a document client sends (added to its middleware stack). */
export function countWrites(doc: DynamoDBDocumentClient): WriteCounter {
  const counter: WriteCounter = { batchWrites: 0, items: 0, singleWrites: 0 };
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      const batch = batchWriteItems(args.input);
      if (batch) {
        counter.batchWrites++;
        for (const list of Object.values(batch)) counter.items += list.length;
      } else if (/^(Put|Update|Delete)/.test(context.commandName ?? '')) {
        counter.singleWrites++;
      }
      return next(args);
    },
    { step: 'initialize', name: 'countWrites' },
  );
  return counter;
}

/**
 * Makes a document client behave like a busy table: its first `throttles` BatchWriteItem
 * calls fail with ProvisionedThroughputExceededException, the next `partial` ones write only
 * half their items and hand the rest back as UnprocessedItems. Everything else reaches the
 * real engine.
 */
export function flakyBatchWrites(
  doc: DynamoDBDocumentClient,
  faults: { throttles?: number; partial?: number },
): { calls: number } {
  const state = { calls: 0 };
  const throttles = faults.throttles ?? 0;
  const partial = faults.partial ?? 0;
  doc.middlewareStack.add(
    (next) => async (args) => {
      const batch = batchWriteItems(args.input);
      if (!batch) return next(args);
      state.calls++;
      if (state.calls <= throttles) {
        const err = new Error('Rate of requests exceeds the allowed throughput');
        err.name = 'ProvisionedThroughputExceededException';
        throw err;
      }
      const [table, requests] = Object.entries(batch)[0] ?? ['', []];
      if (state.calls > throttles + partial || requests.length < 2) return next(args);
      const half = Math.ceil(requests.length / 2);
      const out = await next({
        ...args,
        input: { ...(args.input as object), RequestItems: { [table]: requests.slice(0, half) } },
      });
      (out.output as { UnprocessedItems?: RequestItems }).UnprocessedItems = {
        [table]: requests.slice(half),
      };
      return out;
    },
    { step: 'initialize', name: 'flakyBatchWrites' },
  );
  return state;
}

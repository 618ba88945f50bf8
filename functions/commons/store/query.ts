import {
  type DynamoDBDocumentClient,
  type NativeAttributeValue,
  QueryCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { storeCall } from './errors.ts';

export type StoredItem = Record<string, NativeAttributeValue>;

/** Every item a query matches, following `LastEvaluatedKey` across pages. */
export async function queryAll(
  doc: DynamoDBDocumentClient,
  input: QueryCommandInput,
  operation: string,
): Promise<StoredItem[]> {
  const items: StoredItem[] = [];
  let start: StoredItem | undefined;
  do {
    const out = await storeCall(operation, () =>
      doc.send(new QueryCommand({ ...input, ExclusiveStartKey: start })),
    );
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

/** The first item of a query, or undefined. */
export async function queryFirst(
  doc: DynamoDBDocumentClient,
  input: QueryCommandInput,
  operation: string,
): Promise<StoredItem | undefined> {
  const out = await storeCall(operation, () => doc.send(new QueryCommand({ ...input, Limit: 1 })));
  return out.Items?.[0];
}

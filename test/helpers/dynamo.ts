import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { beforeAll, inject } from 'vitest';
import { documentClient } from '../../functions/commons/clients/dynamodb.ts';
import { ensureTable } from '../../functions/commons/store/table.ts';

export interface TestTable {
  tableName: string;
  client: DynamoDBClient;
  doc: DynamoDBDocumentClient;
}

export function localDynamoClient(): DynamoDBClient {
  return new DynamoDBClient({
    endpoint: inject('dynamoEndpoint'),
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 3,
  });
}

function namedTable(prefix: string): TestTable {
  const client = localDynamoClient();
  const tableName = `${prefix}-${randomUUID().slice(0, 8)}`;
  return { tableName, client, doc: documentClient(client) };
}

/** A fresh table in DynamoDB Local, from the same definition the stack deploys. */
export async function createTestTable(prefix = 'test'): Promise<TestTable> {
  const table = namedTable(prefix);
  await ensureTable(table.client, table.tableName);
  return table;
}

/**
 * A fresh table for the enclosing file or describe: named at once, so stores can be built
 * over it at collection time, and created in beforeAll.
 */
export function useTestTable(prefix = 'test'): TestTable {
  const table = namedTable(prefix);
  beforeAll(() => ensureTable(table.client, table.tableName));
  return table;
}

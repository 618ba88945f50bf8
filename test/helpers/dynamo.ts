import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { inject } from 'vitest';
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

/** A fresh table in DynamoDB Local, from the same definition the stack deploys. */
export async function createTestTable(prefix = 'test'): Promise<TestTable> {
  const client = localDynamoClient();
  const tableName = `${prefix}-${randomUUID().slice(0, 8)}`;
  await ensureTable(client, tableName);
  return { tableName, client, doc: documentClient(client) };
}

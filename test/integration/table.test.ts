import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { ensureTable } from '../../functions/commons/store/table.ts';
import { createTestTable } from '../helpers/dynamo.ts';

describe('table definition on DynamoDB Local', () => {
  it('creates the table with its index once and leaves an existing one alone', async () => {
    const { client, tableName } = await createTestTable('table');
    await ensureTable(client, tableName);
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    expect(Table?.KeySchema?.map((k) => k.AttributeName)).toEqual(['pk', 'sk']);
    expect(Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName)).toEqual(['gsi1', 'gsi2']);
  });
});

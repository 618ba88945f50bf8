import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { documentClient } from '../../functions/commons/clients/dynamodb.ts';
import { ensureTable } from '../../functions/commons/store/table.ts';
import { startEmbeddedDynamoDb } from '../../local/runtime/dynamodb.ts';

async function open(dir: string) {
  const engine = await startEmbeddedDynamoDb(dir);
  const client = new DynamoDBClient({
    endpoint: engine.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await ensureTable(client, 'flowpilot');
  return { engine, doc: documentClient(client) };
}

describe('local runtime: embedded DynamoDB', () => {
  it('keeps data on disk across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fp-ddb-'));
    const first = await open(dir);
    await first.doc.send(
      new PutCommand({ TableName: 'flowpilot', Item: { pk: 'a', sk: 'b', n: 1 } }),
    );
    await first.engine.close();

    const second = await open(dir);
    const { Item } = await second.doc.send(
      new GetCommand({ TableName: 'flowpilot', Key: { pk: 'a', sk: 'b' } }),
    );
    expect(Item).toEqual({ pk: 'a', sk: 'b', n: 1 });
    await second.engine.close();
  });

  it('applies a transaction whole, or not at all with DynamoDB cancellation reasons', async () => {
    const { engine, doc } = await open(mkdtempSync(join(tmpdir(), 'fp-ddb-')));
    const put = (pk: string) => ({
      Put: {
        TableName: 'flowpilot',
        Item: { pk, sk: 'x', v: 1 },
        ConditionExpression: 'attribute_not_exists(pk)',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
      },
    });
    const check = {
      ConditionCheck: {
        TableName: 'flowpilot',
        Key: { pk: 'p1', sk: 'x' },
        ConditionExpression: 'v = :one',
        ExpressionAttributeValues: { ':one': 1 },
      },
    };
    await doc.send(new TransactWriteCommand({ TransactItems: [put('p1'), put('p2')] }));
    // p3 would be new, p1 exists: nothing of it may stay.
    const failed = await doc
      .send(new TransactWriteCommand({ TransactItems: [put('p3'), put('p1')] }))
      .catch(
        (err: unknown) =>
          err as { name: string; CancellationReasons?: { Code: string; Item?: unknown }[] },
      );
    expect(failed).toMatchObject({
      name: 'TransactionCanceledException',
      CancellationReasons: [{ Code: 'None' }, { Code: 'ConditionalCheckFailed' }],
    });
    expect(
      failed && 'CancellationReasons' in failed && failed.CancellationReasons?.[1]?.Item,
    ).toMatchObject({
      // Error payloads are not translated by lib-dynamodb: wire format, as from AWS.
      pk: { S: 'p1' },
    });
    const p3 = await doc.send(
      new GetCommand({ TableName: 'flowpilot', Key: { pk: 'p3', sk: 'x' } }),
    );
    expect(p3.Item).toBeUndefined();

    await doc.send(new TransactWriteCommand({ TransactItems: [check, put('p4')] }));
    const p1 = await doc.send(
      new GetCommand({ TableName: 'flowpilot', Key: { pk: 'p1', sk: 'x' } }),
    );
    expect(p1.Item).toEqual({ pk: 'p1', sk: 'x', v: 1 });
    await engine.close();
  });

  // dynalite ignores ReturnValuesOnConditionCheckFailure: without the front's help a store
  // that reads the current item from the refusal (a second captured payer address) fails.
  it('attaches the current item to a refused conditional write that asks for ALL_OLD', async () => {
    const { engine, doc } = await open(mkdtempSync(join(tmpdir(), 'fp-ddb-')));
    await doc.send(new PutCommand({ TableName: 'flowpilot', Item: { pk: 'c', sk: 'x', v: 1 } }));
    const refused = async (send: () => Promise<unknown>) => {
      const err = await send().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConditionalCheckFailedException);
      return (err as ConditionalCheckFailedException).Item;
    };
    const key = { pk: 'c', sk: 'x' };
    const cond = { ConditionExpression: 'v = :two', ExpressionAttributeValues: { ':two': 2 } };
    const old = {
      pk: { S: 'c' },
      sk: { S: 'x' },
      v: { N: '1' },
    };
    const all = { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const };
    expect(
      await refused(() =>
        doc.send(
          new UpdateCommand({
            TableName: 'flowpilot',
            Key: key,
            UpdateExpression: 'SET w = :two',
            ...cond,
            ...all,
          }),
        ),
      ),
    ).toEqual(old);
    expect(
      await refused(() =>
        doc.send(
          new PutCommand({ TableName: 'flowpilot', Item: { ...key, v: 3 }, ...cond, ...all }),
        ),
      ),
    ).toEqual(old);
    expect(
      await refused(() =>
        doc.send(new DeleteCommand({ TableName: 'flowpilot', Key: key, ...cond, ...all })),
      ),
    ).toEqual(old);
    // Not asked for: none, as DynamoDB answers.
    expect(
      await refused(() =>
        doc.send(new DeleteCommand({ TableName: 'flowpilot', Key: key, ...cond })),
      ),
    ).toBeUndefined();
    await engine.close();
  });
});

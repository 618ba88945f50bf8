import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import {
  type BalanceState,
  CustomerBalanceStore,
} from '../../functions/commons/customers/store/customer-balances.ts';
import { Decimal } from '../../functions/commons/units.ts';
import { createTestTable } from '../helpers/dynamo.ts';

type Capacity = { CapacityUnits?: number };

/** Write units DynamoDB reports (table and indexes together) for every write `doc` sends. */
function countWriteUnits(doc: DynamoDBDocumentClient): { write: number } {
  const total = { write: 0 };
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      (args.input as { ReturnConsumedCapacity?: string }).ReturnConsumedCapacity = 'TOTAL';
      const out = await next(args);
      const consumed = (out.output as { ConsumedCapacity?: Capacity | Capacity[] })
        .ConsumedCapacity;
      const units = [consumed ?? []].flat().reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
      if (!/^(Get|BatchGet|Query|Scan)/.test(context.commandName ?? '')) total.write += units;
      return out;
    },
    { step: 'initialize', name: 'countWriteUnits' },
  );
  return total;
}

function state(customerId: string, deductionsMb: string): BalanceState {
  return {
    customerId,
    creditsMb: new Decimal('1000'),
    deductionsMb: new Decimal(deductionsMb),
    settledMb: new Decimal('0'),
    recent: new Map([['2026-12-07', new Decimal(deductionsMb)]]),
  };
}

describe('CustomerBalanceStore: the index a balance sits in', () => {
  it('rewrites a balance for one write unit: its listing index copies no figures', async () => {
    const { doc, tableName } = await createTestTable('balidx');
    const store = new CustomerBalanceStore(doc, tableName);
    const at = new Date('2026-12-07T10:00:00Z');
    await store.write([{ state: state('7', '10'), version: undefined }], at);
    const units = countWriteUnits(doc);
    await store.write([{ state: state('7', '25'), version: 1 }], at);
    expect(units.write).toBe(1);
    expect((await store.get('7'))?.state.deductionsMb.toFixed()).toBe('25');
  });

  it('lists balances written before the listing index moved beside the new ones, in id order', async () => {
    const { doc, tableName } = await createTestTable('balidx');
    const store = new CustomerBalanceStore(doc, tableName);
    const at = new Date('2026-12-07T10:00:00Z');
    await store.write(
      [
        { state: state('30', '1'), version: undefined },
        { state: state('4', '2'), version: undefined },
      ],
      at,
    );
    // A balance as the previous release stored it: listed through gsi1 `CUSTBAL`.
    await doc.send(
      new PutCommand({
        TableName: tableName,
        Item: {
          pk: 'CUSTOMER#12',
          sk: 'BALANCE',
          gsi1pk: 'CUSTBAL',
          gsi1sk: '12'.padStart(20, '0'),
          customerId: '12',
          creditsMb: '1000',
          deductionsMb: '3',
          settledMb: '0',
          recent: { '2026-12-07': '3' },
          updatedAt: at.toISOString(),
          version: 4,
        },
      }),
    );
    const listed = await store.list();
    expect(listed.map((b) => [b.state.customerId, b.state.deductionsMb.toFixed()])).toEqual([
      ['4', '2'],
      ['12', '3'],
      ['30', '1'],
    ]);
    // Its next write moves it to the new index, and it is listed once.
    await store.write([{ state: state('12', '5'), version: 4 }], at);
    expect((await store.list()).map((b) => b.state.customerId)).toEqual(['4', '12', '30']);
  });
});

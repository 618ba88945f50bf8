import { describe, expect, it } from 'vitest';
import { assignOrders } from '../../functions/commons/customers/orders.ts';
import type { CustomerRecord } from '../../functions/commons/customers/store/customer-records.ts';
import type { LedgerCredit } from '../../functions/commons/reconcile/match.ts';
import { Decimal } from '../../functions/commons/units.ts';

const T0 = Date.parse('2026-11-10T03:00:00.000Z');
const credit = (orderKey: string, s: number, gb = '25'): LedgerCredit => ({
  orderKey,
  customerId: '089',
  gb: new Decimal(gb),
  creditedAt: new Date(T0 + s * 1000),
});
const record = (key: string, s: number, mb = '25600', type: 0 | 1 = 0): CustomerRecord => ({
  customerId: '89',
  key,
  day: '2026-11-10',
  type,
  mb: new Decimal(mb),
  account: 'bob@example.com',
  createBy: 'flowpilot-agent',
  createId: '98765',
  createTime: '2026-11-10 11:00:00',
  at: new Date(T0 + s * 1000).toISOString(),
});

describe('Function: assignOrders', () => {
  it('matches as many orders as the tolerance allows, where nearest-first would leave one out', () => {
    // A's nearest record is r1, but B reaches no other: A takes r2, B takes r1.
    const out = assignOrders(
      [credit('A', 0), credit('B', 4)],
      [record('r1', 3), record('r2', -4)],
      5_000,
    );
    expect(Object.fromEntries(out)).toEqual({ r2: 'A', r1: 'B' });
  });

  it('gives each order one record and each record one order, by amount, and leaves the rest', () => {
    const out = assignOrders(
      [credit('A', 0), credit('B', 5), credit('C', 6, '10')],
      [
        record('rA', 0),
        record('rB', 5),
        record('rX', 6),
        record('rC', 6, '10240'),
        record('d', 6, '10240', 1),
      ],
      60_000,
    );
    expect(Object.fromEntries(out)).toEqual({ rA: 'A', rB: 'B', rC: 'C' });
  });
});

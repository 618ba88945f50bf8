import { describe, expect, it } from 'vitest';
import {
  type LedgerCredit,
  matchRecharges,
  type UpstreamRecharge,
} from '../../functions/commons/reconcile/match.ts';
import { Decimal } from '../../functions/commons/units.ts';

const credit = (orderKey: string, customerId: string, gb: string, at: string): LedgerCredit => ({
  orderKey,
  customerId,
  gb: new Decimal(gb),
  creditedAt: new Date(at),
});
const record = (customerId: string, mb: string, at: string): UpstreamRecharge => ({
  customerId,
  account: `user${customerId}`,
  mb: new Decimal(mb),
  at: new Date(at),
  createTime: at,
});

describe('reconcile: matching ledger credits with upstream records', () => {
  const tolerance = 15 * 60_000;

  it('matches by customer, exact MB and nearest time', () => {
    const result = matchRecharges(
      [
        credit('o1', '7', '10', '2026-01-01T10:00:00Z'),
        credit('o2', '7', '10', '2026-01-01T10:05:00Z'),
      ],
      [record('7', '10240', '2026-01-01T10:05:02Z'), record('7', '10240', '2026-01-01T10:00:01Z')],
      tolerance,
    );
    expect(result.matched.map((m) => [m.credit.orderKey, m.upstream.at.toISOString()])).toEqual([
      ['o1', '2026-01-01T10:00:01.000Z'],
      ['o2', '2026-01-01T10:05:02.000Z'],
    ]);
    expect(result.missingUpstream).toEqual([]);
    expect(result.manualTopUps).toEqual([]);
  });

  it('reports a credit with no record as missing upstream', () => {
    const result = matchRecharges(
      [credit('o1', '7', '1', '2026-01-01T10:00:00Z')],
      [record('8', '1024', '2026-01-01T10:00:00Z'), record('7', '1024', '2026-01-01T11:00:00Z')],
      tolerance,
    );
    expect(result.missingUpstream.map((c) => c.orderKey)).toEqual(['o1']);
    expect(result.manualTopUps).toHaveLength(2);
  });

  it('reports the same customer and time with another amount as an amount difference', () => {
    const result = matchRecharges(
      [credit('o1', '7', '1.5', '2026-01-01T10:00:00Z')],
      [record('7', '1024', '2026-01-01T10:01:00Z')],
      tolerance,
    );
    expect(result.amountDifferences).toHaveLength(1);
    expect(result.amountDifferences[0]).toMatchObject({ ledgerMb: '1536', upstreamMb: '1024' });
    expect(result.matched).toEqual([]);
  });

  it('does not let a nearer record of another amount steal an exact match', () => {
    const result = matchRecharges(
      [credit('o1', '7', '1', '2026-01-01T10:00:00Z')],
      [record('7', '2048', '2026-01-01T10:00:00Z'), record('7', '1024', '2026-01-01T10:10:00Z')],
      tolerance,
    );
    expect(result.matched).toHaveLength(1);
    expect(result.manualTopUps.map((r) => r.mb.toFixed())).toEqual(['2048']);
  });

  it("matches a healed credit by its window, without taking a prompt credit's record", () => {
    const healed: LedgerCredit = {
      ...credit('o1', '7', '10', '2026-01-01T10:20:00Z'),
      createdAt: new Date('2026-01-01T10:00:00Z'),
    };
    const result = matchRecharges(
      [healed, credit('o2', '7', '10', '2026-01-01T10:30:00Z')],
      [record('7', '10240', '2026-01-01T10:00:01Z'), record('7', '10240', '2026-01-01T10:30:01Z')],
      tolerance,
    );
    expect(result.matched.map((m) => [m.credit.orderKey, m.upstream.at.toISOString()])).toEqual([
      ['o1', '2026-01-01T10:00:01.000Z'],
      ['o2', '2026-01-01T10:30:01.000Z'],
    ]);
    expect(result.missingUpstream).toEqual([]);
    expect(result.manualTopUps).toEqual([]);
  });
});

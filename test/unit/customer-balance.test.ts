import { describe, expect, it } from 'vitest';
import {
  addRecords,
  applyUsage,
  balanceFigures,
  balanceMb,
  countedMb,
  emptyBalance,
  forgetSeenBefore,
} from '../../functions/commons/customers/balance.ts';
import { canonicalCustomerId } from '../../functions/commons/customers/ids.ts';
import { ValidationError } from '../../functions/commons/errors.ts';
import { Decimal } from '../../functions/commons/units.ts';

const d = (v: string | number) => new Decimal(v);
const days = (entries: Record<string, number>) =>
  new Map(Object.entries(entries).map(([k, v]) => [k, d(v)]));

describe('Function: applyUsage', () => {
  it('overwrites re-read days, folds final days out of the burn window, and changes nothing when applied twice', () => {
    // Prepare: 10 GB of credits; days 1..10 of November, 100 MB each; day 10 is today.
    const start = { ...emptyBalance('88'), creditsMb: d(10240) };
    const usage = days(
      Object.fromEntries(
        Array.from({ length: 10 }, (_, i) => [`2026-11-${String(i + 1).padStart(2, '0')}`, 100]),
      ),
    );

    // Act: poll-usage re-reads from the 9th on; the burn keeps the 3rd onwards.
    const once = applyUsage(start, usage, '2026-11-09', '2026-11-03');
    const twice = applyUsage(once, usage, '2026-11-09', '2026-11-03');
    const grown = applyUsage(
      twice,
      days({ '2026-11-10': 250, '2026-11-01': 999 }),
      '2026-11-09',
      '2026-11-03',
    );

    // Assess
    expect(once.settledThrough).toBe('2026-11-02');
    expect(once.settledMb.toFixed()).toBe('200');
    expect([...once.recent.keys()].sort()).toEqual(
      Array.from({ length: 8 }, (_, i) => `2026-11-${String(i + 3).padStart(2, '0')}`),
    );
    expect(balanceMb(once).toFixed()).toBe('9240');
    expect(balanceMb(twice).toFixed()).toBe('9240');
    // Today grew by 150 MB; a settled day is final and is not counted again.
    expect(balanceMb(grown).toFixed()).toBe('9090');
  });

  it('counts only what follows the opening: nothing before its day, the rise on its day', () => {
    const state = {
      ...emptyBalance('88'),
      opening: { mb: d(5000), at: '2026-11-05T04:00:00.000Z', day: '2026-11-05', dayBaseMb: d(40) },
    };
    const next = applyUsage(
      state,
      days({ '2026-11-04': 500, '2026-11-05': 100, '2026-11-06': 30 }),
      '2026-11-01',
      '2026-11-01',
    );
    expect(balanceMb(next).toFixed()).toBe(String(5000 - 60 - 30));
  });
});

describe('Function: balanceFigures', () => {
  const today = '2026-11-20';
  const at = new Date('2026-11-20T04:00:00.000Z');
  const week = (mb: number, yesterday = mb) =>
    days({
      ...Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`2026-11-${13 + i}`, mb])),
      '2026-11-19': yesterday,
    });

  it('gives days left at the milder of the two burns, only when both see traffic', () => {
    const base = { ...emptyBalance('88'), creditsMb: d(7000) };
    const steady = applyUsage(base, week(100), '2026-11-19', '2026-11-13');
    const spike = applyUsage(base, week(100, 800), '2026-11-19', '2026-11-13');
    const idleYesterday = applyUsage(base, week(100, 0), '2026-11-19', '2026-11-13');

    expect(balanceFigures(steady, today, at)).toMatchObject({
      balanceMb: '6300',
      burn1dMb: '100',
      burn7dMb: '100',
      daysLeft: 63,
    });
    // 7000 − 1400 = 5600 at the 7-day average of 200, not at yesterday's 800.
    expect(balanceFigures(spike, today, at).daysLeft).toBe(28);
    expect(balanceFigures(idleYesterday, today, at).daysLeft).toBeNull();
    expect(balanceFigures(emptyBalance('89'), today, at)).toMatchObject({
      balanceMb: '0',
      burn1dMb: null,
      burn7dMb: null,
      daysLeft: 0,
    });
  });

  it('reports 0 days left once a calibrated balance is gone', () => {
    // Calibrated at 0 MB before the week: the balance is gone, not merely without an opening.
    const opening = {
      mb: d(0),
      at: '2026-11-12T00:00:00.000Z',
      day: '2026-11-12',
      dayBaseMb: d(0),
    };
    const used = applyUsage(
      { ...emptyBalance('88'), opening },
      week(100),
      '2026-11-19',
      '2026-11-13',
    );
    expect(balanceFigures(used, today, at)).toMatchObject({ balanceMb: '-700', daysLeft: 0 });
    expect(balanceFigures(used, today, at).uncalibrated).toBeUndefined();
  });

  it('flags a balance negative only for want of an opening as not calibrated, no days left', () => {
    const used = applyUsage(emptyBalance('88'), week(100), '2026-11-19', '2026-11-13');
    expect(balanceFigures(used, today, at)).toMatchObject({
      balanceMb: '-700',
      daysLeft: null,
      uncalibrated: true,
    });
  });
});

describe('Function: countedMb and canonicalCustomerId', () => {
  it('counts upload and download by default, either alone when configured', () => {
    const row = { uploadMb: d('1.25'), downloadMb: d('10.5') };
    expect(countedMb(row, 'upload+download').toFixed()).toBe('11.75');
    expect(countedMb(row, 'download').toFixed()).toBe('10.5');
    expect(countedMb(row, 'upload').toFixed()).toBe('1.25');
  });

  it('drops leading zeros and refuses what is not an id', () => {
    expect(canonicalCustomerId('0088')).toBe('88');
    expect(canonicalCustomerId(88)).toBe('88');
    expect(canonicalCustomerId('0')).toBe('0');
    expect(() => canonicalCustomerId('8a')).toThrow(ValidationError);
    expect(() => canonicalCustomerId('')).toThrow(ValidationError);
  });
});

describe('Function: addRecords', () => {
  const rec = (key: string, type: 0 | 1, mb: number, at: string) => ({
    customerId: '88',
    key,
    day: at.slice(0, 10),
    type,
    mb: d(mb),
    account: 'alice@example.com',
    createBy: 'admin',
    createId: '1',
    createTime: key.slice(0, 19),
    at,
  });

  it('adds each record once by identity, whatever it sorts after, and counts nothing before the opening', () => {
    const state = {
      ...emptyBalance('88'),
      opening: { mb: d(0), at: '2026-11-10T00:00:00.000Z', day: '2026-11-10', dayBaseMb: d(0) },
    };
    const records = [
      rec('2026-11-09 10:00:00#0#a#0', 0, 999, '2026-11-09T02:00:00.000Z'),
      rec('2026-11-11 10:00:00#0#b#0', 0, 1024, '2026-11-11T02:00:00.000Z'),
      rec('2026-11-12 10:00:00#1#c#0', 1, 24, '2026-11-12T02:00:00.000Z'),
    ];
    // Stamped in the second of the deduction already counted, and sorting before it.
    const late = rec('2026-11-12 10:00:00#0#d#0', 0, 512, '2026-11-12T02:00:00.000Z');
    const once = addRecords(state, records);
    const twice = addRecords(once.state, [...records, late]);
    const thrice = addRecords(twice.state, [...records, late]);
    expect(once.added).toHaveLength(3);
    expect(twice.added).toEqual([late]);
    expect(thrice.added).toEqual([]);
    expect(balanceMb(thrice.state).toFixed()).toBe('1512');
    expect(thrice.state).toMatchObject({
      lastCreditAt: '2026-11-12T02:00:00.000Z',
      recordsThrough: '2026-11-12 10:00:00#1#c#0',
    });
  });

  it('takes the days before the first one read as counted once their keys are forgotten', () => {
    const records = [
      rec('2026-11-09 10:00:00#0#a#0', 0, 100, '2026-11-09T02:00:00.000Z'),
      rec('2026-11-10 10:00:00#0#b#0', 0, 200, '2026-11-10T02:00:00.000Z'),
    ];
    const counted = forgetSeenBefore(addRecords(emptyBalance('88'), records).state, '2026-11-10');
    expect([...(counted.seen ?? [])]).toEqual(['2026-11-10 10:00:00#0#b#0']);
    expect(addRecords(counted, records).added).toEqual([]);
    expect(balanceMb(counted).toFixed()).toBe('300');
  });
});

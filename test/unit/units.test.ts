import { describe, expect, it } from 'vitest';
import {
  addDays,
  dayInZone,
  daysBetween,
  formatGb,
  gbParam,
  gbToMb,
  mbToGb,
  parseDay,
  parseDecimal,
  parseUpstreamDateTime,
  sum,
} from '../../functions/commons/units.ts';

describe('units', () => {
  it('converts MB and GB at 1024 in decimal arithmetic', () => {
    expect(mbToGb(5242880).toFixed()).toBe('5120');
    expect(gbToMb('1.01').toFixed()).toBe('1034.24');
    expect(sum(['0.1', '0.2']).toFixed()).toBe('0.3');
  });

  it('reads numbers given as numbers or strings and rejects the rest', () => {
    expect(parseDecimal(5242880).toFixed()).toBe('5242880');
    expect(parseDecimal('0.00').toFixed()).toBe('0');
    expect(parseDecimal(' 12.5 ').toFixed()).toBe('12.5');
    for (const bad of [
      null,
      undefined,
      '',
      'abc',
      Number.NaN,
      Number.POSITIVE_INFINITY,
      {},
      '1,5',
    ]) {
      expect(() => parseDecimal(bad, 'flowCount')).toThrow(/flowCount/);
    }
  });

  it('formats GB for people and for the upstream', () => {
    expect(formatGb('412.5')).toBe('412.5 GB');
    expect(formatGb('12345.04')).toBe('12,345 GB');
    expect(gbParam('1.019')).toBe('1.01');
  });

  it('decides days in the upstream zone', () => {
    // 2026-01-01 17:00 UTC is already 2026-01-02 01:00 in Shanghai.
    const instant = new Date('2026-01-01T17:00:00Z');
    expect(dayInZone(instant)).toBe('2026-01-02');
    expect(dayInZone(instant, 'UTC')).toBe('2026-01-01');
    expect(parseUpstreamDateTime('2025-11-17 10:30:00').toISOString()).toBe(
      '2025-11-17T02:30:00.000Z',
    );
    expect(parseUpstreamDateTime('2025-11-17 10:30:00', 'UTC').toISOString()).toBe(
      '2025-11-17T10:30:00.000Z',
    );
  });

  it('does calendar arithmetic on days', () => {
    expect(addDays('2024-02-28', 1)).toBe('2024-02-29');
    expect(addDays('2026-01-01', -1)).toBe('2025-12-31');
    expect(daysBetween('2025-12-30', '2026-01-02')).toEqual([
      '2025-12-30',
      '2025-12-31',
      '2026-01-01',
      '2026-01-02',
    ]);
    expect(() => parseDay('2026-02-30')).toThrow(/not a real date/);
  });
});

describe('Function: dayInZone', () => {
  it('agrees with Intl on every quarter hour around DST changes and midnights', () => {
    // Prepare: 2026-03-08 is New York's spring-forward day, 2026-11-01 its fall-back day.
    const zones = ['America/New_York', 'Asia/Shanghai', 'Australia/Lord_Howe', 'UTC'];
    const starts = [Date.UTC(2026, 2, 7, 12), Date.UTC(2026, 9, 31, 12)];
    const direct = (t: number, zone: string) =>
      new Intl.DateTimeFormat('en-CA', {
        timeZone: zone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
      }).format(new Date(t));

    // Act
    const mismatches: string[] = [];
    for (const zone of zones) {
      for (const start of starts) {
        for (let t = start; t < start + 2 * 86_400_000; t += 15 * 60_000) {
          const got = dayInZone(new Date(t), zone);
          if (got !== direct(t, zone))
            mismatches.push(`${zone} ${new Date(t).toISOString()} ${got}`);
        }
      }
    }

    // Assess
    expect(mismatches).toEqual([]);
  });
});

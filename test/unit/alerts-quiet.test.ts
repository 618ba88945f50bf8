import { describe, expect, it } from 'vitest';
import { Quieting, windowOpen } from '../../functions/commons/alerts/quiet.ts';
import { alertsSchema, type MaintenanceWindow } from '../../functions/commons/config/alerts.ts';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { ConfigError } from '../../functions/commons/errors.ts';

const window = (w: Partial<MaintenanceWindow>): MaintenanceWindow =>
  alertsSchema.parse({ maintenance: [{ name: 'w', start: '22:00', end: '02:00', ...w }] })
    .maintenance[0] as MaintenanceWindow;

describe('Function: windowOpen', () => {
  it('runs a window past midnight into the next day, in its own zone', () => {
    // Prepare: Fridays 22:00-02:00 in Shanghai (UTC+8).
    const w = window({ days: ['fri'], timeZone: 'Asia/Shanghai' });

    // Assess: 2026-01-09 is a Friday.
    expect(windowOpen(w, new Date('2026-01-09T13:59:00Z'))).toBe(false); // Fri 21:59
    expect(windowOpen(w, new Date('2026-01-09T14:00:00Z'))).toBe(true); // Fri 22:00
    expect(windowOpen(w, new Date('2026-01-09T17:59:00Z'))).toBe(true); // Sat 01:59
    expect(windowOpen(w, new Date('2026-01-09T18:00:00Z'))).toBe(false); // Sat 02:00
    expect(windowOpen(w, new Date('2026-01-10T14:30:00Z'))).toBe(false); // Sat 22:30
  });
});

describe('Class: Quieting', () => {
  it('covers poll rules with a rule-less silence, and events only when named', () => {
    // Prepare
    const at = new Date('2026-01-09T12:00:00Z');
    const base = {
      startsAt: new Date(0),
      endsAt: new Date('2026-01-10T00:00:00Z'),
      reason: 'r',
      createdAt: new Date(0),
    };
    const q = new Quieting(
      [
        { ...base, id: 'all' },
        { ...base, id: 'topup', rule: 'topup-failed', subject: 'stripe#pi_1' },
        { ...base, id: 'over', rule: 'order-held', endsAt: at },
      ],
      [],
      at,
    );

    // Assess
    expect(q.silenceFor('forecast', 'secondary')?.id).toBe('all');
    expect(q.silenceFor('deduction-unknown', 'stripe#pi_1')).toBeUndefined();
    expect(q.silenceFor('topup-failed', 'stripe#pi_1')?.id).toBe('topup');
    expect(q.silenceFor('topup-failed', 'stripe#pi_2')).toBeUndefined();
    expect(q.why('order-held', 'x')).toBeUndefined();
  });
});

describe('Config: alerts operator keys', () => {
  it('names a bad window time, zone and rule', () => {
    // Act
    const attempt = () =>
      parseConfig({
        alerts: {
          maintenance: [
            { name: 'n', start: '25:00', end: '02:00', timeZone: 'Mars/Base', rules: ['nope'] },
          ],
          digest: { time: '8am' },
        },
      });

    // Assess
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/alerts\.maintenance\.0\.start/);
    expect(attempt).toThrow(/alerts\.maintenance\.0\.timeZone/);
    expect(attempt).toThrow(/alerts\.maintenance\.0\.rules\.0/);
    expect(attempt).toThrow(/alerts\.digest\.time: must be a time of day as HH:mm/);
  });
});

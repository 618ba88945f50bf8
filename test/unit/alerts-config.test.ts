import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { ConfigError } from '../../functions/commons/errors.ts';

describe('Config: alerts', () => {
  it('fills sensible defaults from an empty document', () => {
    // Act
    const { alerts } = parseConfig({});

    // Assess
    expect(alerts).toEqual({
      reminderMinutes: 240,
      hysteresisPercent: 5,
      holdPolls: 1,
      clearPolls: 2,
      flap: { enabled: true, windowPolls: 21, startPercent: 30, stablePolls: 6 },
      maintenance: [],
      digest: { enabled: false, time: '08:00', timeZone: 'UTC' },
      pools: {
        primary: {
          enabled: true,
          residualGb: { warning: 200, critical: 50 },
          residualPercent: { warning: 15, critical: 5 },
        },
        secondary: {
          enabled: true,
          residualGb: { warning: 200, critical: 50 },
          residualPercent: { warning: 15, critical: 5 },
        },
      },
      forecast: { enabled: true, daysLeft: { warning: 7, critical: 2 } },
      tokenRejected: { enabled: true },
      stale: { enabled: true, failedPolls: 6, maxAgeMinutes: 45, severity: 'critical' },
    });
  });

  it('keeps the defaults of the keys a partial document leaves out', () => {
    // Act
    const { alerts } = parseConfig({
      alerts: { pools: { secondary: { enabled: false, residualGb: { critical: 10 } } } },
    });

    // Assess
    expect(alerts.pools.secondary).toEqual({
      enabled: false,
      residualGb: { warning: 200, critical: 10 },
      residualPercent: { warning: 15, critical: 5 },
    });
    expect(alerts.pools.primary.enabled).toBe(true);
  });

  it('names every warning level that is not above its critical level', () => {
    // Prepare
    const attempt = () =>
      parseConfig({
        alerts: {
          pools: {
            primary: { residualGb: { warning: 40, critical: 50 } },
            secondary: { residualPercent: { warning: 5, critical: 5 } },
          },
          forecast: { daysLeft: { warning: 1 } },
        },
      });

    // Act / Assess
    expect(attempt).toThrow(ConfigError);
    const issues = (() => {
      try {
        attempt();
        return [];
      } catch (err) {
        return [...(err as ConfigError).issues];
      }
    })();
    expect(issues).toEqual([
      'alerts.pools.primary.residualGb.warning: must be above critical (50 GB), got 40 GB',
      'alerts.pools.secondary.residualPercent.warning: must be above critical (5%), got 5%',
      'alerts.forecast.daysLeft.warning: must be above critical (2 days), got 1 days',
    ]);
  });

  it('rejects out-of-range values and unknown keys by name', () => {
    // Act
    const attempt = () =>
      parseConfig({
        alerts: {
          holdPolls: 0,
          hysteresisPercent: -1,
          pools: { primary: { residualPercent: { warning: 150 } } },
          stale: { severity: 'info' },
          loud: true,
        },
      });

    // Assess
    expect(attempt).toThrow(/alerts\.holdPolls/);
    expect(attempt).toThrow(/alerts\.hysteresisPercent/);
    expect(attempt).toThrow(/alerts\.pools\.primary\.residualPercent\.warning/);
    expect(attempt).toThrow(/alerts\.stale\.severity/);
    expect(attempt).toThrow(/alerts\.loud: unknown key/);
  });
});

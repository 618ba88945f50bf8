import { describe, expect, it } from 'vitest';
import { type LifecycleOptions, step } from '../../functions/commons/alerts/lifecycle.ts';
import { burnFromDays, levelStatus } from '../../functions/commons/alerts/rules.ts';
import type { AlertState, AlertStatus } from '../../functions/commons/alerts/types.ts';
import { Decimal } from '../../functions/commons/units.ts';

const KEY = { rule: 'low-residual', subject: 'primary' } as const;
const T0 = new Date('2025-03-01T00:00:00Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);
const OPTIONS: LifecycleOptions = { holdPolls: 1, reminderMs: 240 * 60_000 };

/** Feeds observed statuses one per minute-offset and collects the notices. */
function run(
  observations: [minute: number, status: AlertStatus][],
  options: LifecycleOptions = OPTIONS,
): { notices: string[]; state: AlertState | undefined } {
  let state: AlertState | undefined;
  const notices: string[] = [];
  for (const [minute, status] of observations) {
    const { next, notice } = step(state, KEY, status, at(minute), options);
    if (next) {
      expect(next.version).toBe((state?.version ?? 0) + 1);
      state = next;
    }
    if (notice) notices.push(`${minute}:${notice}:${next?.status}`);
  }
  return { notices, state };
}

describe('Function: step', () => {
  it('writes nothing while a subject stays ok', () => {
    // Act
    const result = step(undefined, KEY, 'ok', T0, OPTIONS);

    // Assess
    expect(result).toEqual({ next: undefined, notice: undefined });
  });

  it('opens, reminds at the interval, escalates, eases and resolves at once', () => {
    // Act
    const { notices, state } = run([
      [0, 'warning'],
      [5, 'warning'],
      [239, 'warning'],
      [240, 'warning'],
      [300, 'critical'],
      [539, 'critical'],
      [540, 'critical'],
      [600, 'warning'],
      [605, 'ok'],
      [610, 'ok'],
    ]);

    // Assess
    expect(notices).toEqual([
      '0:opened:warning',
      '240:reminder:warning',
      '300:escalated:critical',
      '540:reminder:critical',
      '600:eased:warning',
      '605:resolved:ok',
    ]);
    expect(state).toMatchObject({ status: 'ok', previousStatus: 'warning', openedAt: at(0) });
  });

  it('fires only after the status held for N polls in a row', () => {
    // Act
    const { notices } = run(
      [
        [0, 'critical'],
        [5, 'critical'],
        [10, 'ok'],
        [15, 'warning'],
        [20, 'critical'],
        [25, 'critical'],
      ],
      { ...OPTIONS, holdPolls: 3 },
    );

    // Assess
    expect(notices).toEqual(['25:opened:critical']);
  });

  it('re-sends a notice whose delivery failed when nothing newer happened', () => {
    // Prepare
    const opened = step(undefined, KEY, 'critical', at(0), OPTIONS).next;
    const pending = { ...(opened as AlertState), pendingNotice: 'opened' as const };

    // Act
    const retry = step(pending, KEY, 'critical', at(5), OPTIONS);
    const superseded = step(pending, KEY, 'ok', at(5), OPTIONS);

    // Assess
    expect(retry.notice).toBe('opened');
    expect(retry.next?.pendingNotice).toBeUndefined();
    expect(superseded.notice).toBe('resolved');
    expect(superseded.next?.pendingNotice).toBeUndefined();
  });

  it('never reminds when the interval is infinite', () => {
    // Act
    const { notices } = run(
      [
        [0, 'warning'],
        [100_000, 'warning'],
      ],
      { holdPolls: 1, reminderMs: Number.POSITIVE_INFINITY },
    );

    // Assess
    expect(notices).toEqual(['0:opened:warning']);
  });
});

describe('Function: levelStatus', () => {
  const levels = { warning: 200, critical: 50 };

  it('enters a level only below it', () => {
    expect(levelStatus(new Decimal(200), levels, 'ok', 5)).toBe('ok');
    expect(levelStatus(new Decimal('199.99'), levels, 'ok', 5)).toBe('warning');
    expect(levelStatus(new Decimal(50), levels, 'ok', 5)).toBe('warning');
    expect(levelStatus(new Decimal('49.9'), levels, 'ok', 5)).toBe('critical');
  });

  it('leaves a held level only the margin above it', () => {
    expect(levelStatus(new Decimal('209.9'), levels, 'warning', 5)).toBe('warning');
    expect(levelStatus(new Decimal(210), levels, 'warning', 5)).toBe('ok');
    expect(levelStatus(new Decimal('52.4'), levels, 'critical', 5)).toBe('critical');
    expect(levelStatus(new Decimal('52.5'), levels, 'critical', 5)).toBe('warning');
    expect(levelStatus(new Decimal('209'), levels, 'critical', 5)).toBe('warning');
    expect(levelStatus(new Decimal('215'), levels, 'critical', 5)).toBe('ok');
  });

  it('treats an unknown figure (no burn) as unbounded', () => {
    expect(levelStatus(undefined, levels, 'critical', 5)).toBe('ok');
  });
});

describe('Function: burnFromDays', () => {
  const day = (d: string, mb: number) => ({ day: d, consumedMb: new Decimal(mb) });
  const week = [
    day('2025-02-22', 700),
    day('2025-02-23', 100),
    day('2025-02-24', 100),
    day('2025-02-25', 100),
    day('2025-02-26', 100),
    day('2025-02-27', 100),
    day('2025-02-28', 200),
  ];

  it('takes the last full day and the average of the 7 days ending with it', () => {
    // Act
    const burn = burnFromDays(week, '2025-02-28');

    // Assess
    expect(burn.lastDayMb?.toString()).toBe('200');
    expect(burn.sevenDayAvgMb?.toFixed(4)).toBe('200.0000');
  });

  it('leaves out what it does not know instead of counting a missing day as zero', () => {
    // Act
    const gap = burnFromDays(
      week.filter((d) => d.day !== '2025-02-25'),
      '2025-02-28',
    );
    const stale = burnFromDays(week, '2025-03-01');

    // Assess
    expect(gap.lastDayMb?.toString()).toBe('200');
    expect(gap.sevenDayAvgMb).toBeUndefined();
    expect(stale).toEqual({});
  });
});

describe('Function: step (operator features)', () => {
  const FLAP = { windowPolls: 21, startPercent: 20, stablePolls: 3 };

  it('resolves only after the figure stayed clear for clearPolls polls', () => {
    // Act
    const { notices } = run(
      [
        [0, 'warning'],
        [5, 'ok'],
        [10, 'warning'],
        [15, 'ok'],
        [20, 'ok'],
      ],
      { ...OPTIONS, clearPolls: 2 },
    );

    // Assess
    expect(notices).toEqual(['0:opened:warning', '20:resolved:ok']);
  });

  it('reports flapping once, then nothing until stable, then where it settled', () => {
    // Act: four changes (20 % of 20 transitions) start it; three equal polls end it.
    const { notices, state } = run(
      [
        [0, 'warning'],
        [5, 'ok'],
        [10, 'warning'],
        [15, 'ok'],
        [20, 'warning'],
        [25, 'ok'],
        [30, 'critical'],
        [35, 'critical'],
        [40, 'critical'],
      ],
      { ...OPTIONS, clearPolls: 2, flap: FLAP },
    );

    // Assess
    expect(notices).toEqual(['0:opened:warning', '15:flapping:warning', '40:settled:critical']);
    expect(state?.flapping).toBeUndefined();
    expect(state?.recent).toBeUndefined();
    expect(state?.previousStatus).toBe('critical');
  });

  it('sends a flapping notice again when its delivery failed, and nothing else meanwhile', () => {
    // Prepare: flapping, then SNS refused the notice.
    const options = { ...OPTIONS, clearPolls: 2, flap: FLAP };
    const { state } = run(
      [
        [0, 'warning'],
        [5, 'ok'],
        [10, 'warning'],
        [15, 'ok'],
      ],
      options,
    );
    const pending = { ...(state as AlertState), pendingNotice: 'flapping' as const };

    // Act
    const retry = step(pending, KEY, 'warning', at(20), options);
    const after = step(retry.next, KEY, 'ok', at(25), options);

    // Assess
    expect(state?.flapping).toBeDefined();
    expect(retry.notice).toBe('flapping');
    expect(retry.next?.pendingNotice).toBeUndefined();
    expect(after.notice).toBeUndefined();
  });

  it('keeps a silenced opening back, and drops it when the alert resolves unheard', () => {
    // Prepare
    const silenced: LifecycleOptions = { ...OPTIONS, quiet: () => 'silenced' };

    // Act
    const opened = step(undefined, KEY, 'critical', at(0), silenced);
    const stillSilenced = step(opened.next, KEY, 'critical', at(5), silenced);
    const released = step(opened.next, KEY, 'critical', at(5), OPTIONS);
    const resolvedUnheard = step(opened.next, KEY, 'ok', at(5), OPTIONS);

    // Assess
    expect(opened).toMatchObject({
      notice: undefined,
      next: { status: 'critical', heldNotice: 'opened', quieted: 'silenced' },
      quieted: { notice: 'opened', why: 'silenced' },
    });
    expect(opened.next?.lastNotifiedAt).toBeUndefined();
    expect(stillSilenced.next).toBeUndefined();
    expect(released.notice).toBe('opened');
    expect(released.next?.heldNotice).toBeUndefined();
    expect(resolvedUnheard.notice).toBeUndefined();
    expect(resolvedUnheard.next).toMatchObject({ status: 'ok', heldNotice: undefined });
  });

  it('skips reminders while acknowledged, and forgets the ack when the status changes', () => {
    // Prepare
    const opened = step(undefined, KEY, 'warning', at(0), OPTIONS).next as AlertState;
    const acked: AlertState = { ...opened, ack: { at: at(1), until: at(600) } };

    // Act
    const quiet = step(acked, KEY, 'warning', at(300), OPTIONS);
    const afterAck = step(acked, KEY, 'warning', at(600), OPTIONS);
    const escalated = step(acked, KEY, 'critical', at(300), OPTIONS);

    // Assess
    expect(quiet.notice).toBeUndefined();
    expect(quiet.quieted).toEqual({ notice: 'reminder', why: 'acknowledged' });
    expect(afterAck.notice).toBe('reminder');
    expect(escalated.notice).toBe('escalated');
    expect(escalated.next?.ack).toBeUndefined();
  });
});

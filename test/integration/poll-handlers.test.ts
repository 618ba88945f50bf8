import { describe, expect, it } from 'vitest';
import { DynamoLedger } from '../../functions/commons/payments/ledger/ledger.ts';
import { SnapshotStore } from '../../functions/commons/pollers/store/snapshots.ts';
import { UsageStore } from '../../functions/commons/pollers/store/usage.ts';
import { lambdaContext, scheduledEvent, useDeployedEnv } from '../helpers/deployed-env.ts';
import { useSimulator } from '../helpers/simulator.ts';

const fixture = useSimulator();
const env = useDeployedEnv(fixture, 'handlers');
const context = (remainingMs = 60_000) => lambdaContext('req-42', remainingMs);

describe('Handler: poll-totals', () => {
  it('polls, stores the snapshots and answers a JSON summary with exact decimals', async () => {
    // Prepare
    fixture.sim.setPool('primary', { rechargedMb: '5242880', consumedMb: '0.1' });
    const { handler } = await import('../../functions/poll-totals.ts');

    // Act
    const summary = await handler(scheduledEvent, context());

    // Assess
    expect(JSON.parse(JSON.stringify(summary))).toMatchObject({
      outcome: { ok: true, pollId: 'req-42', pools: { primary: { consumedMb: '0.1' } } },
      health: { poller: 'poll-totals', consecutiveFailures: 0 },
    });
    const latest = await new SnapshotStore(env.table.doc, env.table.tableName).latest('primary');
    expect(latest?.rechargedMb.toFixed()).toBe('5242880');
  });
});

describe('Handler: poll-totals sweeps stuck deductions', () => {
  it('marks a part a dead delivery left DEDUCTING past its lease UNKNOWN', async () => {
    // Prepare: a refund part claimed 10 minutes ago and never settled (lease: 120 s).
    const ledger = new DynamoLedger(env.table.doc, env.table.tableName);
    const key = { provider: 'stripe', paymentId: 'cs_swept' };
    await ledger.createOrder(
      {
        ...key,
        orderId: 'o1',
        state: 'CREDITED',
        customerId: '88',
        gb: '10',
        amountMinor: 1000,
        currency: 'usd',
      },
      { now: new Date() },
    );
    await ledger.claimDeduction({
      key,
      part: {
        partId: 'ch_1:500',
        state: 'DEDUCTING',
        kind: 'refund',
        customerId: '88',
        gb: '5',
        minor: 500,
      },
      expect: { refundedMinor: 0, deductedMinor: 0, version: 0 },
      next: { refundedMinor: 500, deductedMinor: 500, deductedGb: '5' },
      now: new Date(Date.now() - 10 * 60_000),
    });
    const { handler } = await import('../../functions/poll-totals.ts');

    // Act
    const summary = await handler(scheduledEvent, context());

    // Assess
    expect(summary).toMatchObject({ stuckDeductions: 1 });
    expect(await ledger.getPart(key, 'ch_1:500')).toMatchObject({ state: 'UNKNOWN' });
  });
});

describe('Handler: poll-usage', () => {
  it('polls usage within the remaining time and answers a JSON summary', async () => {
    // Prepare
    fixture.sim.generateUsage(30, { customerIds: ['7', '8', '9'] });
    const { handler } = await import('../../functions/poll-usage.ts');

    // Act
    const summary = await handler(scheduledEvent, context());

    // Assess
    expect(JSON.parse(JSON.stringify(summary))).toMatchObject({
      outcome: { ok: true, complete: true, rows: 30, written: { usage: 30 } },
      health: { poller: 'poll-usage', consecutiveFailures: 0 },
    });
    const rows = await new UsageStore(env.table.doc, env.table.tableName).byCustomer(
      '8',
      '2000-01-01',
      '2999-12-31',
    );
    expect(rows).toHaveLength(10);
  });

  it('stops at once when the invocation has no time left', async () => {
    // Prepare
    const { handler } = await import('../../functions/poll-usage.ts');

    // Act
    const summary = await handler(scheduledEvent, context(5_000));

    // Assess
    expect(summary.outcome).toMatchObject({ ok: true, complete: false, stopReason: 'time' });
    expect(fixture.sim.callCount()).toBe(0);
  });
});

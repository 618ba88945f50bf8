import { PublishCommand } from '@aws-sdk/client-sns';
import { describe, expect, it } from 'vitest';
import { formatTime } from '../../functions/commons/alerts/messages.ts';
import { PoolRefillStore } from '../../functions/commons/pool-ledger/store/pool-refills.ts';
import { wallTime } from '../../local/simulator/state.ts';
import { lambdaContext, scheduledEvent, useDeployedEnv } from '../helpers/deployed-env.ts';
import { useSimulator } from '../helpers/simulator.ts';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:flowpilot-alerts';
const fixture = useSimulator();
// Levels in GB only (percent levels low enough never to matter), 5 % hysteresis.
const env = useDeployedEnv(fixture, 'pool-refills', {
  topic: TOPIC,
  config: {
    alerts: {
      hysteresisPercent: 5,
      pools: {
        primary: {
          residualGb: { warning: 100, critical: 50 },
          residualPercent: { warning: 0.2, critical: 0.1 },
        },
        secondary: { enabled: false },
      },
    },
  },
});
const sns = env.sns;
const context = lambdaContext('req-16');
const GB = 1024;

const messages = () =>
  sns.commandCalls(PublishCommand).map(({ args }) => ({
    kind: args[0].input.MessageAttributes?.kind?.StringValue,
    subject: args[0].input.Subject ?? '',
    text: args[0].input.Message ?? '',
  }));

describe('Pool ledger: poll-totals and rechargeFlowListForMe', () => {
  it('resolves a low-pool alert at once on a refill, saying "refilled +X GB at T", where a mere rise within hysteresis would not', async () => {
    const { handler } = await import('../../functions/poll-totals.ts');
    const pool = (rechargedGb: number, residualGb: number) =>
      fixture.sim.setPool('primary', {
        rechargedMb: rechargedGb * GB,
        consumedMb: (rechargedGb - residualGb) * GB,
        residualMb: residualGb * GB,
      });
    // The handler's clock is the system's; so is the simulator's.
    const t0 = new Date(Date.now() - 60_000);

    // 30 GB left: critical.
    pool(5000, 30);
    expect((await handler(scheduledEvent, context)).alerts).toContainEqual(
      expect.objectContaining({ rule: 'low-residual', status: 'critical', notice: 'opened' }),
    );

    // 102 GB without a purchase (e.g. traffic taken back from customers): within 5 % of the
    // warning level, so the alert holds at warning.
    pool(5000, 102);
    const held = await handler(scheduledEvent, context);
    expect(held.alerts).toContainEqual(
      expect.objectContaining({ rule: 'low-residual', status: 'warning' }),
    );

    // The agent buys 2 GB: recharged rises, residual 104 GB.
    const boughtAt = new Date(Math.floor(Date.now() / 1000) * 1000);
    fixture.sim.addRecords(
      [
        {
          customerId: '1',
          account: 'vendor',
          flowMb: 99,
          createBy: 'vendor',
          createTime: wallTime(new Date(Date.now() - 86_400_000), 'Asia/Shanghai'),
        },
        {
          customerId: '1',
          account: 'vendor',
          flowMb: 2 * GB,
          createBy: 'vendor',
          createTime: wallTime(boughtAt, 'Asia/Shanghai'),
        },
      ],
      { forMe: true },
    );
    sns.resetHistory();
    fixture.sim.clearCalls();
    pool(5002, 104);
    const refilled = await handler(scheduledEvent, context);

    // Assess
    expect(refilled.alerts).toContainEqual(
      expect.objectContaining({ rule: 'low-residual', status: 'ok', notice: 'resolved' }),
    );
    const [resolved] = messages();
    expect(resolved?.kind).toBe('resolved');
    expect(resolved?.text).toContain(
      `The primary pool was refilled +2 GB at ${formatTime(boughtAt)}.`,
    );
    expect(resolved?.subject).toContain('primary pool refilled +2 GB');
    expect(fixture.sim.callCount('rechargeFlowListForMe')).toBe(1);
    const ledger = await new PoolRefillStore(env.table.doc, env.table.tableName).since(t0);
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatchObject({
      pool: 'primary',
      at: boughtAt.toISOString(),
      record: { createBy: 'vendor' },
    });
    expect(ledger[0]?.addedMb.toFixed()).toBe('2048');

    // No rise, no record read.
    fixture.sim.clearCalls();
    await handler(scheduledEvent, context);
    expect(fixture.sim.callCount('rechargeFlowListForMe')).toBe(0);
  });
});

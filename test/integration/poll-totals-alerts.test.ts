import { PublishCommand } from '@aws-sdk/client-sns';
import { describe, expect, it } from 'vitest';
import { createAlerting } from '../../functions/commons/alerts/index.ts';
import { AlertStateStore } from '../../functions/commons/alerts/store/alert-state.ts';
import { alertsSchema } from '../../functions/commons/config/alerts.ts';
import { SeriesStore } from '../../functions/commons/pollers/store/series.ts';
import { SnapshotStore } from '../../functions/commons/pollers/store/snapshots.ts';
import { alertAfterTotals } from '../../functions/commons/pollers/totals-alerts.ts';
import { Decimal, daysBetween, gbToMb } from '../../functions/commons/units.ts';
import { lambdaContext, scheduledEvent, useDeployedEnv } from '../helpers/deployed-env.ts';
import { createTestTable } from '../helpers/dynamo.ts';
import { useSimulator } from '../helpers/simulator.ts';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:flowpilot-alerts';
const fixture = useSimulator();
// What the stack gives the deployed function: the table, the topic, the token, the config.
const env = useDeployedEnv(fixture, 'poll-alerts', { topic: TOPIC });
const sns = env.sns;
const context = lambdaContext('req-7');

/** What each Publish so far was about: `kind rule/pool severity`, and its topic. */
function published(): string[] {
  return sns.commandCalls(PublishCommand).map(({ args }) => {
    const { TopicArn, MessageAttributes: a } = args[0].input;
    const attr = (name: string) => a?.[name]?.StringValue ?? '';
    return `${TopicArn} ${attr('kind')} ${attr('rule')}/${attr('pool')} ${attr('severity')}`;
  });
}

async function primarySnapshots(): Promise<number> {
  const store = new SnapshotStore(env.table.doc, env.table.tableName);
  return (await store.range('primary', new Date(0), new Date('2999-01-01'))).length;
}

describe('Handler: poll-totals with alerting', () => {
  it('notifies a low pool once, stays quiet on the same figures, and alerts a rejected token', async () => {
    // Prepare: 30 GB left of 5 TB, below the default critical levels (50 GB, 5 %).
    fixture.sim.setPool('primary', {
      rechargedMb: '5242880',
      consumedMb: '5212160',
      residualMb: '30720',
    });
    const { handler } = await import('../../functions/poll-totals.ts');

    // Act
    const first = await handler(scheduledEvent, context);
    const afterFirst = published();
    const second = await handler(scheduledEvent, context);
    const afterSecond = published();
    const snapshotsBeforeAuth = await primarySnapshots();
    fixture.sim.addFault({ kind: 'auth', endpoint: 'getFlowTotalFull' });
    const rejected = await handler(scheduledEvent, context);

    // Assess
    expect(first.alerts).toContainEqual({
      rule: 'low-residual',
      subject: 'primary',
      status: 'critical',
      notice: 'opened',
    });
    expect(afterFirst).toEqual([`${TOPIC} opened low-residual/primary critical`]);
    expect(second.alerts.filter((a) => a.notice)).toEqual([]);
    expect(afterSecond).toEqual(afterFirst);
    expect(rejected.outcome).toMatchObject({ ok: false, reason: 'auth' });
    expect(published().slice(afterSecond.length)).toEqual([
      `${TOPIC} opened token-rejected/none critical`,
    ]);
    expect(snapshotsBeforeAuth).toBe(2);
    expect(await primarySnapshots()).toBe(2);
  });
});

describe('Handler: poll-totals reminding of open events', () => {
  it('reminds once of an event alert last notified longer ago than the interval', async () => {
    // Prepare: a deduction nobody checked, last notified a day ago (the default interval is 4 h).
    const dayAgo = new Date(Date.now() - 24 * 3_600_000);
    await new AlertStateStore({ client: env.table.doc, tableName: env.table.tableName }).save(
      {
        rule: 'deduction-unknown',
        subject: 'stripe#pi_unchecked',
        status: 'critical',
        version: 1,
        openedAt: dayAgo,
        lastNotifiedAt: dayAgo,
        event: { summary: 'Deduction of 20 GB from customer 88 was lost', details: {} },
        updatedAt: dayAgo,
      },
      undefined,
    );
    const { handler } = await import('../../functions/poll-totals.ts');
    const before = published().length;

    // Act
    const first = await handler(scheduledEvent, context);
    const second = await handler(scheduledEvent, context);

    // Assess
    expect([first.eventReminders, second.eventReminders]).toEqual([1, 0]);
    expect(published().slice(before)).toContainEqual(
      `${TOPIC} reminder deduction-unknown/none critical`,
    );
    expect(
      published()
        .slice(before)
        .filter((p) => p.includes('deduction-unknown')),
    ).toHaveLength(1);
  });
});

describe('Function: alertAfterTotals', () => {
  it("forecasts from the 7 days ending with yesterday in the upstream's zone", async () => {
    // Prepare: 01:00 on 2026-03-11 in Asia/Shanghai, still 2026-03-10 in UTC.
    const at = new Date('2026-03-10T17:00:00.000Z');
    const { doc, tableName } = await createTestTable('forecast');
    const series = new SeriesStore(doc, tableName);
    const burn = gbToMb(60);
    await series.putConsume(
      daysBetween('2026-03-04', '2026-03-10').map((day) => ({
        day,
        uploadMb: new Decimal(0),
        downloadMb: burn,
      })),
      at,
    );
    const alerting = createAlerting({
      config: alertsSchema.parse({}),
      tableName,
      documentClient: doc,
      clock: () => at,
    });
    const pool = (residualGb: number) => ({
      rechargedMb: gbToMb(5120),
      consumedMb: gbToMb(5120 - residualGb),
      residualMb: gbToMb(residualGb),
    });
    const lines: string[] = [];
    const deps = {
      alerts: {
        ...alerting.deps,
        notifier: { publish: async (m: { subject: string }) => void lines.push(m.subject) },
      },
      series,
      timeZone: 'Asia/Shanghai',
    };

    // Act: 90 GB left at 60 GB a day is 1.5 days.
    const { changes } = await alertAfterTotals(deps, {
      outcome: {
        ok: true,
        at: at.toISOString(),
        pollId: 'p-1',
        pools: { primary: pool(90), secondary: pool(4000) },
      },
      health: { poller: 'poll-totals', consecutiveFailures: 0, lastSuccessAt: at.toISOString() },
    });

    // Assess
    expect(changes).toContainEqual(
      expect.objectContaining({ rule: 'forecast', subject: 'primary', status: 'critical' }),
    );
    expect(lines).toContainEqual(expect.stringContaining('runs out in 1.5 days'));
  });
});

import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AlertDeps,
  type AlertStatePort,
  evaluateAfterTotalsPoll,
  type TotalsPollInput,
} from '../../functions/commons/alerts/index.ts';
import {
  AlertStateConflictError,
  AlertStateStore,
} from '../../functions/commons/alerts/store/alert-state.ts';
import type { AlertState } from '../../functions/commons/alerts/types.ts';
import { type AlertsConfigInput, alertsSchema } from '../../functions/commons/config/alerts.ts';
import { SnsNotifier } from '../../functions/commons/notifier/index.ts';
import { gbToMb } from '../../functions/commons/units.ts';
import { createTestTable } from '../helpers/dynamo.ts';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:flowpilot-alerts';
const T0 = new Date('2025-03-01T00:00:00Z');
const sns = mockClient(SNSClient);

afterEach(() => {
  sns.reset();
});

interface Published {
  subject: string;
  kind: string;
  severity: string;
  rule: string;
  pool: string;
  sms: string;
  email: string;
}

type PoolSpec = { rechargedGb: number | string; residualGb: number | string };
type BurnSpec = { lastDayGb?: number; sevenDayAvgGb?: number };

/**
 * One FlowPilot alerting setup over a fresh table in DynamoDB Local, SNS mocked, and a clock
 * the test moves. `poll` feeds one totals poll as the poller would, keeping poll health.
 */
async function setUp(config: AlertsConfigInput = {}) {
  const table = await createTestTable('alerts');
  const store = new AlertStateStore({ client: table.doc, tableName: table.tableName });
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
  let now = T0;
  let consecutiveFailures = 0;
  let lastSuccessAt: Date | undefined;
  const deps: AlertDeps = {
    state: store,
    notifier: new SnsNotifier({ topicArn: TOPIC, client: new SNSClient({ region: 'us-east-1' }) }),
    clock: () => now,
    config: alertsSchema.parse(config),
  };
  const input = (
    result: { primary: PoolSpec; secondary?: PoolSpec; burn?: BurnSpec } | 'auth' | 'transport',
  ): TotalsPollInput => {
    if (result === 'auth' || result === 'transport') {
      consecutiveFailures += 1;
      const message =
        result === 'auth'
          ? 'upstream rejected the access token (getFlowTotalFull)'
          : 'getFlowTotalFull timed out after 10000 ms';
      return {
        outcome: { ok: false, at: now, reason: result, message },
        health: { consecutiveFailures, lastSuccessAt },
      };
    }
    consecutiveFailures = 0;
    lastSuccessAt = now;
    const pool = (p: PoolSpec) => ({
      rechargedMb: gbToMb(p.rechargedGb),
      consumedMb: gbToMb(p.rechargedGb).minus(gbToMb(p.residualGb)),
      residualMb: gbToMb(p.residualGb),
    });
    const burn = result.burn && {
      primary: {
        lastDayMb: result.burn.lastDayGb === undefined ? undefined : gbToMb(result.burn.lastDayGb),
        sevenDayAvgMb:
          result.burn.sevenDayAvgGb === undefined ? undefined : gbToMb(result.burn.sevenDayAvgGb),
      },
    };
    return {
      outcome: {
        ok: true,
        at: now,
        pools: {
          primary: pool(result.primary),
          secondary: pool(result.secondary ?? { rechargedGb: 0, residualGb: 0 }),
        },
        burn,
      },
      health: { consecutiveFailures, lastSuccessAt },
    };
  };
  return {
    store,
    deps,
    input,
    at: (minutes: number) => {
      now = new Date(T0.getTime() + minutes * 60_000);
    },
    poll: (result: Parameters<typeof input>[0]) => evaluateAfterTotalsPoll(deps, input(result)),
    published: (): Published[] =>
      sns.commandCalls(PublishCommand).map(({ args }) => {
        const { Subject, Message, MessageAttributes } = args[0].input;
        const texts = JSON.parse(Message ?? '{}') as { sms: string; email: string };
        const attr = (name: string) => MessageAttributes?.[name]?.StringValue ?? '';
        return {
          subject: Subject ?? '',
          kind: attr('kind'),
          severity: attr('severity'),
          rule: attr('rule'),
          pool: attr('pool'),
          sms: texts.sms,
          email: texts.email,
        };
      }),
  };
}

const summary = (p: Published) => `${p.kind} ${p.rule}/${p.pool} ${p.severity}`;

describe('Function: evaluateAfterTotalsPoll', () => {
  it('fires, reminds and resolves low residual in GB, publishing the exact SNS request', async () => {
    // Prepare
    const fp = await setUp();

    // Act
    fp.at(0);
    await fp.poll({ primary: { rechargedGb: 1000, residualGb: 300 } });
    fp.at(5);
    await fp.poll({ primary: { rechargedGb: 1000, residualGb: 180 } });
    fp.at(10);
    await fp.poll({ primary: { rechargedGb: 1000, residualGb: 170 } });
    fp.at(245);
    await fp.poll({ primary: { rechargedGb: 1000, residualGb: 160 } });
    fp.at(250);
    await fp.poll({ primary: { rechargedGb: 1000, residualGb: 250 } });
    fp.at(255);
    await fp.poll({ primary: { rechargedGb: 1000, residualGb: 250 } });

    // Assess
    expect(fp.published().map(summary)).toEqual([
      'opened low-residual/primary warning',
      'reminder low-residual/primary warning',
      'resolved low-residual/primary warning',
    ]);
    const first = sns.commandCalls(PublishCommand)[0]?.args[0].input;
    const email = [
      'WARNING: primary pool low: 180 GB (18%) left',
      '',
      'New alert: warning.',
      'Rule: low-residual, subject: primary, at 2025-03-01 00:05 UTC.',
      '',
      'Figures for the primary pool, read 2025-03-01 00:05 UTC:',
      '  Residual:   180 GB (18% of 1,000 GB recharged)',
      '  Consumed:   820 GB',
      '  Burn:       unknown',
      '  Days left:  unknown (no burn figures)',
      'Levels: warning below 200 GB or 15%; critical below 50 GB or 5%.',
      '',
      "What to do: Top up the primary pool with Dynamic Traffic before it runs out: customers' proxies stop when it reaches zero.",
      '',
      '-- FlowPilot',
    ].join('\n');
    expect(first).toEqual({
      TopicArn: TOPIC,
      Subject: 'FlowPilot WARNING: primary pool low: 180 GB (18%) left',
      MessageStructure: 'json',
      Message: JSON.stringify({
        default: email,
        email,
        sms: 'FlowPilot WARNING: primary pool 180 GB (18%) left. Top up now.',
      }),
      MessageAttributes: {
        severity: { DataType: 'String', StringValue: 'warning' },
        rule: { DataType: 'String', StringValue: 'low-residual' },
        pool: { DataType: 'String', StringValue: 'primary' },
        kind: { DataType: 'String', StringValue: 'opened' },
      },
    });
    expect(await fp.store.listOpenAlerts()).toEqual([]);
  });

  it('fires on percent of recharged, escalates to critical and lists the open alert', async () => {
    // Prepare
    const fp = await setUp();

    // Act
    fp.at(0);
    await fp.poll({ primary: { rechargedGb: 10_000, residualGb: 1_200 } });
    fp.at(5);
    await fp.poll({ primary: { rechargedGb: 10_000, residualGb: 400 } });
    const open = await fp.store.listOpenAlerts();

    // Assess
    expect(fp.published().map(summary)).toEqual([
      'opened low-residual/primary warning',
      'escalated low-residual/primary critical',
    ]);
    expect(fp.published()[1]?.sms).toBe(
      'FlowPilot CRITICAL: primary pool 400 GB (4%) left. Top up now.',
    );
    expect(open).toMatchObject([
      {
        rule: 'low-residual',
        subject: 'primary',
        status: 'critical',
        previousStatus: 'warning',
        openedAt: new Date('2025-03-01T00:00:00Z'),
        summary: 'primary pool low: 400 GB (4%) left',
        version: 2,
      },
    ]);
  });

  it('forecasts only when the 1-day and 7-day burns agree, and resolves past the margin', async () => {
    // Prepare
    const fp = await setUp({ pools: { primary: { residualGb: { warning: 10, critical: 5 } } } });
    const primary = { rechargedGb: 10_000, residualGb: 3_000 };

    // Act
    fp.at(0);
    await fp.poll({ primary, burn: { lastDayGb: 1_000, sevenDayAvgGb: 300 } }); // 3 and 10 days
    fp.at(5);
    await fp.poll({ primary, burn: { lastDayGb: 1_000, sevenDayAvgGb: 500 } }); // 3 and 6 days
    fp.at(10);
    await fp.poll({ primary, burn: { lastDayGb: 2_000, sevenDayAvgGb: 2_000 } }); // 1.5 days
    fp.at(15);
    await fp.poll({ primary }); // no burn figures: nothing known, nothing changes
    fp.at(20);
    await fp.poll({ primary, burn: { lastDayGb: 410, sevenDayAvgGb: 410 } }); // 7.3 days < 7.35
    fp.at(25);
    await fp.poll({ primary, burn: { lastDayGb: 400, sevenDayAvgGb: 400 } }); // 7.5 days
    const afterOneClearPoll = fp.published().length;
    fp.at(30);
    await fp.poll({ primary, burn: { lastDayGb: 400, sevenDayAvgGb: 400 } }); // clear twice

    // Assess
    expect(afterOneClearPoll).toBe(3);
    expect(fp.published().map(summary)).toEqual([
      'opened forecast/primary warning',
      'escalated forecast/primary critical',
      'eased forecast/primary critical',
      'resolved forecast/primary warning',
    ]);
    const escalated = fp.published()[1];
    expect(escalated?.sms).toBe(
      'FlowPilot CRITICAL: primary pool runs out in 1.5 days at 2,000 GB/day, 3,000 GB (30%) left. Top up.',
    );
    expect(escalated?.email).toContain(
      "  Days left:  1.5 days at the last day's burn, 1.5 days at the 7-day average",
    );
  });

  it('waits for the configured number of polls before firing a threshold', async () => {
    // Prepare
    const fp = await setUp({ holdPolls: 3 });
    const low = { primary: { rechargedGb: 1000, residualGb: 100 } };

    // Act
    for (const [minute, spec] of [
      [0, low],
      [5, low],
      [10, { primary: { rechargedGb: 1000, residualGb: 900 } }],
      [15, low],
      [20, low],
    ] as const) {
      fp.at(minute);
      await fp.poll(spec);
    }
    const beforeThird = fp.published().length;
    fp.at(25);
    await fp.poll(low);

    // Assess
    expect(beforeThird).toBe(0);
    expect(fp.published().map(summary)).toEqual(['opened low-residual/primary warning']);
  });

  it('sends at most 2 notifications for a residual hovering 1% around a threshold for 100 polls', async () => {
    // Prepare: the warning level is 200 GB; polls a minute apart, so no reminder is due.
    const fp = await setUp();

    // Act
    for (let i = 0; i < 100; i++) {
      fp.at(i);
      const residualGb = (200 + 2 * Math.sin(i * 1.7)).toFixed(2); // 198 .. 202 GB
      await fp.poll({ primary: { rechargedGb: 1000, residualGb } });
    }

    // Assess
    const sent = fp.published();
    expect(sent.length).toBeGreaterThanOrEqual(1);
    expect(sent.length).toBeLessThanOrEqual(2);
    expect(sent.map(summary)).toEqual(['opened low-residual/primary warning']);
  });

  it('raises one token-rejected alert on auth failures, and no low-residual alert', async () => {
    // Prepare
    const fp = await setUp();

    // Act
    fp.at(0);
    await fp.poll({ primary: { rechargedGb: 1000, residualGb: 500 } });
    for (let i = 1; i <= 10; i++) {
      fp.at(i * 5);
      const result = await fp.poll('auth');
      expect(result.changes.map((c) => c.rule)).toEqual(['token-rejected']);
    }
    fp.at(55);
    await fp.poll({ primary: { rechargedGb: 1000, residualGb: 500 } });

    // Assess
    const sent = fp.published();
    expect(sent.map(summary)).toEqual([
      'opened token-rejected/none critical',
      'resolved token-rejected/none critical',
    ]);
    expect(sent[0]?.subject).toBe('FlowPilot CRITICAL: Upstream rejected the API token');
    expect(sent[0]?.sms).toBe(
      'FlowPilot CRITICAL: upstream rejected the API token; no figures are read. Replace IPWEB_TOKEN.',
    );
    expect(sent[0]?.email).toContain(
      'Upstream answer at 2025-03-01 00:05 UTC: upstream rejected the access token (getFlowTotalFull)',
    );
  });

  it('raises one stale alert over an outage of 30 polls, and one resolved when it ends', async () => {
    // Prepare
    const fp = await setUp();
    fp.at(0);
    await fp.poll({ primary: { rechargedGb: 1000, residualGb: 500 } });

    // Act
    for (let i = 1; i <= 30; i++) {
      fp.at(i * 5);
      await fp.poll('transport');
    }
    fp.at(155);
    await fp.poll({ primary: { rechargedGb: 1000, residualGb: 500 } });

    // Assess
    const sent = fp.published();
    expect(sent.map(summary)).toEqual([
      'opened data-stale/none critical',
      'resolved data-stale/none critical',
    ]);
    expect(sent[0]?.sms).toBe(
      'FlowPilot CRITICAL: no fresh traffic figures: 6 failed polls, last good 2025-03-01 00:00 UTC.',
    );
    expect(sent[0]?.email).toContain(
      'Last failure (transport) at 2025-03-01 00:30 UTC: getFlowTotalFull timed out after 10000 ms',
    );
    expect(sent[1]?.email).toContain('Resolved: back to ok after 2 h 5 min.');
  });

  it('raises stale when the last good figures are too old, and reminds while it lasts', async () => {
    // Prepare
    const fp = await setUp({
      stale: { failedPolls: 1000, maxAgeMinutes: 45, severity: 'warning' },
    });
    fp.at(0);
    await fp.poll({ primary: { rechargedGb: 1000, residualGb: 500 } });

    // Act
    const firedAt: number[] = [];
    for (let minute = 15; minute <= 300; minute += 15) {
      fp.at(minute);
      const { changes } = await fp.poll('transport');
      if (changes.some((c) => c.notice)) firedAt.push(minute);
    }

    // Assess: older than 45 minutes at minute 60; a reminder 240 minutes later.
    expect(firedAt).toEqual([60, 300]);
    expect(fp.published().map(summary)).toEqual([
      'opened data-stale/none warning',
      'reminder data-stale/none warning',
    ]);
  });

  it('notifies once when two evaluations race on the same state', async () => {
    // Prepare: both evaluations read the state before either writes.
    const fp = await setUp();
    fp.at(0);
    await fp.poll({ primary: { rechargedGb: 1000, residualGb: 500 } });
    let waiting: (() => void)[] = [];
    const racingStore: AlertStatePort = {
      save: (next, expected) => fp.store.save(next, expected),
      markPending: (state, notice) => fp.store.markPending(state, notice),
      get: async (rule, subject) => {
        const state = await fp.store.get(rule, subject);
        if (rule === 'low-residual' && subject === 'primary') {
          await new Promise<void>((resolve) => {
            waiting.push(resolve);
            if (waiting.length === 2) {
              for (const release of waiting) release();
              waiting = [];
            }
          });
        }
        return state;
      },
    };
    const deps = { ...fp.deps, state: racingStore };
    fp.at(5);
    const input = fp.input({ primary: { rechargedGb: 1000, residualGb: 20 } });

    // Act
    const results = await Promise.all([
      evaluateAfterTotalsPoll(deps, input),
      evaluateAfterTotalsPoll(deps, input),
    ]);

    // Assess
    const deliveries = results
      .flatMap((r) => r.changes)
      .filter((c) => c.rule === 'low-residual' && c.subject === 'primary')
      .map((c) => c.delivery)
      .sort();
    expect(deliveries).toEqual(['lost-race', 'sent']);
    expect(fp.published().map(summary)).toEqual(['opened low-residual/primary critical']);
  });

  it('keeps a notice that SNS refused and sends it at the next evaluation', async () => {
    // Prepare
    const fp = await setUp();
    sns
      .on(PublishCommand)
      .rejectsOnce(new Error('Service Unavailable'))
      .resolves({ MessageId: 'm' });

    // Act
    fp.at(0);
    const first = await fp.poll({ primary: { rechargedGb: 1000, residualGb: 20 } });
    const pending = await fp.store.get('low-residual', 'primary');
    fp.at(5);
    const second = await fp.poll({ primary: { rechargedGb: 1000, residualGb: 20 } });

    // Assess
    expect(first.failed.map((c) => `${c.rule}/${c.subject}:${c.notice}`)).toEqual([
      'low-residual/primary:opened',
    ]);
    expect(pending?.pendingNotice).toBe('opened');
    expect(second.failed).toEqual([]);
    expect(fp.published().map(summary)).toEqual([
      'opened low-residual/primary critical',
      'opened low-residual/primary critical',
    ]);
    expect((await fp.store.get('low-residual', 'primary'))?.pendingNotice).toBeUndefined();
  });

  it('does not resolve a low pool that suddenly reads all zeros', async () => {
    // Prepare
    const fp = await setUp();
    fp.at(0);
    await fp.poll({ primary: { rechargedGb: 1000, residualGb: 20 } });

    // Act: the upstream now reports the pool as if it had never been recharged.
    fp.at(5);
    const { changes } = await fp.poll({ primary: { rechargedGb: 0, residualGb: 0 } });

    // Assess: zeros are no good news; the alert stays open and nobody hears "resolved".
    expect(changes).toContainEqual(
      expect.objectContaining({ rule: 'low-residual', subject: 'primary', status: 'critical' }),
    );
    expect(fp.published().map(summary)).toEqual(['opened low-residual/primary critical']);
  });

  it('ignores a pool that is disabled or never recharged', async () => {
    // Prepare
    const fp = await setUp({ pools: { secondary: { enabled: false } } });

    // Act
    fp.at(0);
    const { changes } = await fp.poll({
      primary: { rechargedGb: 0, residualGb: 0 },
      secondary: { rechargedGb: 1000, residualGb: 1 },
      burn: { lastDayGb: 10, sevenDayAvgGb: 10 },
    });

    // Assess
    expect(fp.published()).toEqual([]);
    expect(changes.map((c) => `${c.rule}/${c.subject}:${c.status}`)).toEqual([
      'low-residual/primary:ok',
      'forecast/primary:ok',
      'token-rejected/upstream:ok',
      'data-stale/upstream:ok',
    ]);
  });
});

describe('Class: AlertStateStore', () => {
  it('makes a writer that read before a pending mark lose the race instead of erasing it', async () => {
    // Prepare: a delivery failed; another evaluation read the state before it was marked.
    const { doc, tableName } = await createTestTable('alerts');
    const store = new AlertStateStore({ client: doc, tableName });
    const opened: AlertState = {
      rule: 'low-residual',
      subject: 'primary',
      status: 'critical',
      version: 1,
      previousStatus: 'ok',
      openedAt: T0,
      lastNotifiedAt: T0,
      updatedAt: T0,
    };
    await store.save(opened, undefined);
    const readBefore = await store.get('low-residual', 'primary');
    if (!readBefore) throw new Error('state not saved');

    // Act
    const marked = await store.markPending(opened, 'opened');
    const lateWrite = store.save(
      { ...readBefore, holdStatus: 'critical', holdCount: 1, version: readBefore.version + 1 },
      readBefore.version,
    );

    // Assess
    expect(marked).toBe(true);
    await expect(lateWrite).rejects.toBeInstanceOf(AlertStateConflictError);
    expect((await store.get('low-residual', 'primary'))?.pendingNotice).toBe('opened');
  });
});

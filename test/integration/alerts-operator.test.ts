import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { sendDigestIfDue } from '../../functions/commons/alerts/digest.ts';
import {
  createAlerting,
  evaluateAfterTotalsPoll,
  type TotalsPollInput,
} from '../../functions/commons/alerts/index.ts';
import { type AlertsConfigInput, alertsSchema } from '../../functions/commons/config/alerts.ts';
import { gbToMb } from '../../functions/commons/units.ts';
import { createTestTable } from '../helpers/dynamo.ts';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:flowpilot-alerts';
const T0 = new Date('2026-01-05T06:00:00Z'); // a Monday
const sns = mockClient(SNSClient);

afterEach(() => {
  sns.reset();
});

interface Sent {
  kind: string;
  rule: string;
  pool: string;
  severity: string;
  subject: string;
  sms: string;
  email: string;
}

type Pool = { rechargedGb: number; residualGb: number | string };

/**
 * Alerting as poll-totals builds it (createAlerting), over a fresh table in DynamoDB Local,
 * SNS mocked, and a clock the test moves. Everything is asserted on the Publish calls made.
 */
async function setUp(config: AlertsConfigInput = {}) {
  const table = await createTestTable('operator');
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
  let now = T0;
  const alerting = createAlerting({
    config: alertsSchema.parse(config),
    tableName: table.tableName,
    topicArn: TOPIC,
    clock: () => now,
    documentClient: table.doc,
    snsClient: new SNSClient({ region: 'us-east-1' }),
  });
  const pools = (primary: Pool, burnGb?: number): TotalsPollInput => ({
    outcome: {
      ok: true,
      at: now,
      pools: {
        primary: {
          rechargedMb: gbToMb(primary.rechargedGb),
          consumedMb: gbToMb(primary.rechargedGb).minus(gbToMb(primary.residualGb)),
          residualMb: gbToMb(primary.residualGb),
        },
        secondary: { rechargedMb: gbToMb(0), consumedMb: gbToMb(0), residualMb: gbToMb(0) },
      },
      burn:
        burnGb === undefined
          ? undefined
          : { primary: { lastDayMb: gbToMb(burnGb), sevenDayAvgMb: gbToMb(burnGb) } },
    },
    health: { consecutiveFailures: 0, lastSuccessAt: now },
  });
  return {
    alerting,
    at: (minutes: number) => {
      now = new Date(T0.getTime() + minutes * 60_000);
      return now;
    },
    poll: (primary: Pool, burnGb?: number) =>
      evaluateAfterTotalsPoll(alerting.deps, pools(primary, burnGb)),
    fail: (reason: 'auth' | 'transport', consecutiveFailures: number) =>
      evaluateAfterTotalsPoll(alerting.deps, {
        outcome: { ok: false, at: now, reason, message: `${reason} failure` },
        health: { consecutiveFailures, lastSuccessAt: T0 },
      }),
    sent: (): Sent[] =>
      sns.commandCalls(PublishCommand).map(({ args }) => {
        const { Subject, Message, MessageAttributes: a } = args[0].input;
        const texts = JSON.parse(Message ?? '{}') as { sms: string; email: string };
        const attr = (name: string) => a?.[name]?.StringValue ?? '';
        return {
          kind: attr('kind'),
          rule: attr('rule'),
          pool: attr('pool'),
          severity: attr('severity'),
          subject: Subject ?? '',
          sms: texts.sms,
          email: texts.email,
        };
      }),
  };
}

const line = (s: Sent) => `${s.kind} ${s.rule}/${s.pool} ${s.severity}`;

/** 20 % warning on the percent of recharged; GB levels out of the way. */
const PERCENT_ONLY: AlertsConfigInput = {
  pools: {
    primary: {
      residualGb: { warning: 2, critical: 1 },
      residualPercent: { warning: 20, critical: 5 },
    },
  },
};

/** One percentage point either side of the 20 % warning, alternating every poll. */
const hover = (i: number) => ({ rechargedGb: 1000, residualGb: i % 2 === 0 ? 190 : 210 });

describe('Alerts an operator can live with', () => {
  it('sends one notification per change for a hovering pool when flap detection and the clear hold are off', async () => {
    // Prepare: what the issue measured (clear at once, no flap detection).
    const fp = await setUp({ ...PERCENT_ONLY, clearPolls: 1, flap: { enabled: false } });

    // Act: 40 polls, 5 minutes apart.
    for (let i = 0; i < 40; i++) {
      fp.at(i * 5);
      await fp.poll(hover(i));
    }

    // Assess
    expect(fp.sent()).toHaveLength(40);
  });

  it('sends at most 2 notifications for 40 polls hovering at a threshold, then one when it settles', async () => {
    // Prepare: the defaults (clearPolls 2, flap window 21 polls, 30 %, stable for 6).
    const fp = await setUp(PERCENT_ONLY);

    // Act
    for (let i = 0; i < 40; i++) {
      fp.at(i * 5);
      await fp.poll(hover(i));
    }
    const duringHover = fp.sent().map(line);
    for (let i = 40; i < 46; i++) {
      fp.at(i * 5);
      await fp.poll({ rechargedGb: 1000, residualGb: 300 });
    }

    // Assess
    expect(duringHover).toEqual([
      'opened low-residual/primary warning',
      'flapping low-residual/primary warning',
    ]);
    const settled = fp.sent()[2];
    expect(fp.sent().map(line)).toEqual([...duringHover, 'settled low-residual/primary warning']);
    expect(settled?.subject).toBe('FlowPilot SETTLED OK: primary pool residual ok: 300 GB (30%)');
    expect(fp.sent()[1]?.email).toContain(
      'No further notices about it until it holds one status for 6 polls.',
    );
    expect(await fp.alerting.store.listOpenAlerts()).toEqual([]);
  });

  it('sends one SMS-bound notification naming both rules when low residual and forecast fire at once', async () => {
    // Prepare: 30 GB left of 5 TB (critical below 50 GB), burning 60 GB a day (0.5 days).
    const fp = await setUp();

    // Act
    fp.at(0);
    const { changes } = await fp.poll({ rechargedGb: 5120, residualGb: 30 }, 60);

    // Assess
    expect(
      changes.filter((c) => c.notice).map((c) => `${c.rule}:${c.notice}:${c.delivery}`),
    ).toEqual(['low-residual:opened:sent', 'forecast:opened:sent']);
    expect(fp.sent().map(line)).toEqual(['opened forecast,low-residual/primary critical']);
    const [message] = fp.sent();
    expect(message?.sms).toBe(
      'FlowPilot CRITICAL forecast+low-residual: primary pool runs out in 0.5 days at 60 GB/day, 30 GB (0.6%) left. Top up.',
    );
    expect(message?.email).toContain('CRITICAL: 2 alerts about primary at once');
    expect(message?.email).toContain('- CRITICAL primary pool low: 30 GB (0.6%) left');
  });

  it('keeps back a pool warning while the same pool is critical, and sends it once that is over', async () => {
    // Prepare: forecast warns (4 days), residual critical (40 GB < 50 GB).
    const fp = await setUp({
      pools: {
        primary: {
          residualGb: { warning: 100, critical: 50 },
          residualPercent: { warning: 2, critical: 1 },
        },
      },
    });

    // Act
    fp.at(0);
    const first = await fp.poll({ rechargedGb: 1000, residualGb: 40 }, 10);
    const afterFirst = fp.sent().map(line);
    fp.at(5);
    await fp.poll({ rechargedGb: 1000, residualGb: 60 }, 15); // eased to warning, 4 days

    // Assess
    expect(first.changes.find((c) => c.rule === 'forecast')?.quieted).toEqual({
      notice: 'opened',
      why: 'inhibited',
    });
    expect(afterFirst).toEqual(['opened low-residual/primary critical']);
    expect(fp.sent().map(line).slice(1)).toEqual([
      'eased,opened low-residual,forecast/primary critical',
    ]);
  });

  it('keeps staleness quiet while the token is rejected, and says nothing of it after', async () => {
    // Prepare
    const fp = await setUp();
    fp.at(0);
    await fp.poll({ rechargedGb: 1000, residualGb: 500 });

    // Act: the token is rejected, then the upstream stops answering for 10 polls.
    fp.at(5);
    await fp.fail('auth', 1);
    let stale: unknown;
    for (let i = 2; i <= 11; i++) {
      fp.at(i * 5);
      const { changes } = await fp.fail('transport', i);
      stale = changes.find((c) => c.rule === 'data-stale');
    }
    fp.at(60);
    await fp.poll({ rechargedGb: 1000, residualGb: 500 });

    // Assess
    expect(stale).toMatchObject({ status: 'critical', quieted: { why: 'inhibited' } });
    expect(fp.sent().map(line)).toEqual([
      'opened token-rejected/none critical',
      'resolved token-rejected/none critical',
    ]);
  });

  it('respects a silence while it lasts, records the alert, and notifies once it expires', async () => {
    // Prepare
    const fp = await setUp();
    fp.at(0);
    await fp.alerting.silences.add({
      id: 's-test1',
      rule: 'low-residual',
      subject: 'primary',
      startsAt: fp.at(0),
      endsAt: fp.at(120),
      reason: 'refill ordered',
      createdAt: fp.at(0),
    });
    const low = { rechargedGb: 1000, residualGb: 100 };

    // Act: low from minute 5, polled every 5 minutes for 3 hours.
    let silenced: { sent: number; state: unknown } | undefined;
    for (let minute = 5; minute <= 180; minute += 5) {
      fp.at(minute);
      await fp.poll(low);
      if (minute === 115) {
        const state = await fp.alerting.store.get('low-residual', 'primary');
        silenced = { sent: fp.sent().length, state };
      }
    }

    // Assess: nothing while silenced, the opening once it expired, nothing after.
    expect(silenced).toMatchObject({
      sent: 0,
      state: { status: 'warning', heldNotice: 'opened', quieted: 'silenced' },
    });
    expect(fp.sent().map(line)).toEqual(['opened low-residual/primary warning']);
    expect(fp.sent()[0]?.email).toContain(
      'Rule: low-residual, subject: primary, at 2026-01-05 08:00 UTC.',
    );
  });

  it('never silences a money alert with a silence that does not name it', async () => {
    // Prepare: a silence of every poll rule on every subject.
    const fp = await setUp();
    await fp.alerting.silences.add({
      id: 's-all',
      startsAt: fp.at(0),
      endsAt: fp.at(600),
      reason: 'upstream maintenance',
      createdAt: fp.at(0),
    });

    // Act
    fp.at(5);
    await fp.poll({ rechargedGb: 1000, residualGb: 10 });
    await fp.alerting.events.raise({
      kind: 'deduction-unknown',
      severity: 'critical',
      subject: 'stripe#pi_1',
      summary: 'Deduction of 20 GB from customer 88 was lost',
      details: {},
    });

    // Assess
    expect(fp.sent().map(line)).toEqual(['opened deduction-unknown/none critical']);
  });

  it('silences an event that is named, and sends what it held once the silence ends', async () => {
    // Prepare
    const fp = await setUp();
    await fp.alerting.silences.add({
      id: 's-topup',
      rule: 'topup-failed',
      startsAt: fp.at(0),
      endsAt: fp.at(60),
      reason: 'provider incident',
      createdAt: fp.at(0),
    });
    const event = {
      kind: 'topup-failed' as const,
      severity: 'critical' as const,
      subject: 'stripe#pi_2',
      summary: 'Top-up of 10 GB for customer 7 failed',
      details: {},
    };

    // Act
    fp.at(5);
    await fp.alerting.events.raise(event);
    fp.at(30);
    await fp.alerting.events.raise({ ...event, subject: 'stripe#pi_3' });
    await fp.alerting.events.resolve('topup-failed', 'stripe#pi_3', 'Credited by hand.');
    const duringSilence = fp.sent().length;
    fp.at(65);
    await fp.alerting.events.remindDue();
    fp.at(70);
    await fp.alerting.events.remindDue();

    // Assess: pi_3 opened and resolved unheard: nothing to say about it.
    expect(duringSilence).toBe(0);
    expect(fp.sent().map((s) => `${line(s)} ${s.subject}`)).toEqual([
      'opened topup-failed/none critical FlowPilot CRITICAL: Top-up failed: stripe#pi_2',
    ]);
    expect((await fp.alerting.store.listOpenAlerts()).map((a) => a.subject)).toEqual([
      'stripe#pi_2',
    ]);
  });

  it('holds notices in a recurring maintenance window and sends them when it closes', async () => {
    // Prepare: Mondays 07:00-08:00 Berlin (06:00-07:00 UTC in winter).
    const fp = await setUp({
      maintenance: [
        { name: 'refill', days: ['mon'], start: '07:00', end: '08:00', timeZone: 'Europe/Berlin' },
      ],
    });

    // Act
    for (const minute of [10, 30, 55, 60, 65]) {
      fp.at(minute);
      await fp.poll({ rechargedGb: 1000, residualGb: 10 });
    }

    // Assess
    expect(fp.sent().map((s) => `${line(s)} ${s.email.match(/at (\S+ \S+) UTC\./)?.[1]}`)).toEqual([
      'opened low-residual/primary critical 2026-01-05 07:00',
    ]);
  });

  it('stops reminders after an ack until the status changes, then reminds again', async () => {
    // Prepare
    const fp = await setUp();
    fp.at(0);
    await fp.poll({ rechargedGb: 1000, residualGb: 150 }); // warning

    // Act
    const acked = await fp.alerting.store.acknowledge('low-residual', 'primary', {
      at: fp.at(10),
      by: 'ana',
    });
    for (let minute = 15; minute <= 600; minute += 15) {
      fp.at(minute);
      await fp.poll({ rechargedGb: 1000, residualGb: 150 });
    }
    const quietUntil600 = fp.sent().map(line);
    fp.at(605);
    await fp.poll({ rechargedGb: 1000, residualGb: 40 }); // critical
    for (let minute = 620; minute <= 850; minute += 15) {
      fp.at(minute);
      await fp.poll({ rechargedGb: 1000, residualGb: 40 });
    }

    // Assess
    expect(acked?.ack).toEqual({ at: fp.at(10), by: 'ana' });
    expect(quietUntil600).toEqual(['opened low-residual/primary warning']);
    expect(fp.sent().map(line)).toEqual([
      'opened low-residual/primary warning',
      'escalated low-residual/primary critical',
      'reminder low-residual/primary critical',
    ]);
    expect((await fp.alerting.store.get('low-residual', 'primary'))?.ack).toBeUndefined();
  });

  it('stops the reminders of an acknowledged event for the time given', async () => {
    // Prepare
    const fp = await setUp();
    fp.at(0);
    await fp.alerting.events.raise({
      kind: 'topup-failed',
      severity: 'critical',
      subject: 'stripe#pi_9',
      summary: 'Top-up of 10 GB for customer 7 failed',
      details: {},
    });
    await fp.alerting.store.acknowledge('topup-failed', 'stripe#pi_9', {
      at: fp.at(1),
      until: fp.at(8 * 60),
    });

    // Act: the reminder interval is 4 h.
    const reminded: number[] = [];
    for (let minute = 60; minute <= 10 * 60; minute += 60) {
      fp.at(minute);
      const changes = await fp.alerting.events.remindDue();
      if (changes.some((c) => c.notice === 'reminder')) reminded.push(minute);
    }

    // Assess
    expect(reminded).toEqual([8 * 60]);
  });

  it('sends a daily digest of what is open at the configured local time, once a day', async () => {
    // Prepare: digest at 08:00 Berlin (07:00 UTC); one pool alert (silenced), one event.
    const fp = await setUp({ digest: { enabled: true, time: '08:00', timeZone: 'Europe/Berlin' } });
    fp.at(0);
    await fp.poll({ rechargedGb: 1000, residualGb: 150 });
    await fp.alerting.events.raise({
      kind: 'reconciliation-difference',
      severity: 'warning',
      subject: '2026-01-04',
      summary: '1 credit missing upstream',
      details: {},
    });
    await fp.alerting.silences.add({
      id: 's-dig',
      rule: 'low-residual',
      startsAt: fp.at(0),
      endsAt: fp.at(600),
      reason: 'refill ordered',
      by: 'ana',
      createdAt: fp.at(0),
    });
    const digest = () => sendDigestIfDue(fp.alerting.digest);

    // Act
    fp.at(55);
    const early = await digest();
    fp.at(60);
    const due = await digest();
    fp.at(65);
    const again = await digest();
    // Another container, which has not seen the day claimed: the stored claim stops it.
    const elsewhere = await sendDigestIfDue({ ...fp.alerting.digest, seen: {} });
    fp.at(24 * 60 + 60);
    const nextDay = await digest();

    // Assess
    expect([early, due, again, elsewhere, nextDay]).toEqual([
      { sent: false, reason: 'not-due' },
      { sent: true, day: '2026-01-05', open: 2 },
      { sent: false, reason: 'already-sent' },
      { sent: false, reason: 'already-sent' },
      { sent: true, day: '2026-01-06', open: 2 },
    ]);
    const digests = fp.sent().filter((s) => s.kind === 'digest');
    expect(digests).toHaveLength(2);
    const [first] = digests;
    expect(first?.severity).toBe('warning');
    expect(first?.subject).toBe('FlowPilot daily digest: 2 open alerts');
    expect(first?.email).toContain(
      '- WARNING low-residual/primary: primary pool low: 150 GB (15%) left',
    );
    expect(first?.email).toContain(
      '- WARNING reconciliation-difference/2026-01-04: Reconciliation difference: 2026-01-04',
    );
    expect(first?.email).toContain('silenced until 2026-01-05 16:00 UTC (s-dig: refill ordered)');
    expect(first?.email).toContain(
      '- s-dig: low-residual on every subject until 2026-01-05 16:00 UTC, by ana: refill ordered',
    );
  });
});

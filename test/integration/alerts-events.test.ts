import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { AlertEventSink } from '../../functions/commons/alerts/index.ts';
import { AlertStateStore } from '../../functions/commons/alerts/store/alert-state.ts';
import { NotifierError, SnsNotifier } from '../../functions/commons/notifier/index.ts';
import type { OpsEvent } from '../../functions/commons/ops-events.ts';
import { createTestTable } from '../helpers/dynamo.ts';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:flowpilot-alerts';
const sns = mockClient(SNSClient);
const REMINDER_MINUTES = 240;

afterEach(() => {
  sns.reset();
});

async function setUp() {
  const table = await createTestTable('alert-events');
  const store = new AlertStateStore({ client: table.doc, tableName: table.tableName });
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
  let now = new Date('2025-03-01T00:00:00Z');
  const sink = new AlertEventSink({
    state: store,
    notifier: new SnsNotifier({ topicArn: TOPIC, client: new SNSClient({ region: 'us-east-1' }) }),
    clock: () => now,
    reminderMs: REMINDER_MINUTES * 60_000,
  });
  return {
    store,
    sink,
    now: () => now,
    later: (minutes: number) => {
      now = new Date(now.getTime() + minutes * 60_000);
    },
    published: () =>
      sns.commandCalls(PublishCommand).map(({ args }) => {
        const a = args[0].input.MessageAttributes;
        return `${a?.kind?.StringValue} ${a?.rule?.StringValue} ${a?.severity?.StringValue}`;
      }),
  };
}

/** The texts of each Publish so far: the subject, and the SMS and email from the JSON body. */
function publishedTexts(): { subject: string; sms: string; email: string }[] {
  return sns.commandCalls(PublishCommand).map(({ args }) => {
    const body = JSON.parse(args[0].input.Message ?? '{}') as { sms: string; email: string };
    return { subject: args[0].input.Subject ?? '', sms: body.sms, email: body.email };
  });
}

const deductionUnknown: OpsEvent = {
  kind: 'deduction-unknown',
  severity: 'critical',
  subject: `stripe#pi_${'3PqRefundIntent'.repeat(6)}`,
  summary: 'Deduction of 20 GB from customer 88 was sent but its answer was lost',
  details: { customer: '88', traffic: '20 GB', upstream: 'timeout after 10 s' },
};

const topupFailed = (subject: string, severity: OpsEvent['severity'] = 'warning'): OpsEvent => ({
  kind: 'topup-failed',
  severity,
  subject,
  summary: 'Recharge of 50 GB for customer 88 failed: upstream code 500',
  details: { customer: '88', traffic: '50 GB', upstream: '500 充值失败' },
});

describe('Class: AlertEventSink', () => {
  it('notifies once per subject, again only to escalate, and once when resolved', async () => {
    // Prepare
    const fp = await setUp();

    // Act
    await fp.sink.raise(topupFailed('stripe#pi_1'));
    fp.later(60);
    await fp.sink.raise(topupFailed('stripe#pi_1'));
    await fp.sink.raise(topupFailed('stripe#pi_2'));
    fp.later(600);
    await fp.sink.raise(topupFailed('stripe#pi_1'));
    await fp.sink.raise(topupFailed('stripe#pi_1', 'critical'));
    await fp.sink.raise(topupFailed('stripe#pi_1', 'warning'));
    const openBefore = await fp.store.listOpenAlerts();
    const resolved = await fp.sink.resolve('topup-failed', 'stripe#pi_1', 'Credited by hand.');
    const resolvedAgain = await fp.sink.resolve('topup-failed', 'stripe#pi_1');
    const unknown = await fp.sink.resolve('order-held', 'stripe#pi_9');

    // Assess
    expect(fp.published()).toEqual([
      'opened topup-failed warning',
      'opened topup-failed warning',
      'escalated topup-failed critical',
      'resolved topup-failed critical',
    ]);
    expect(openBefore.map((a) => `${a.rule}#${a.subject}:${a.status}`)).toEqual([
      'topup-failed#stripe#pi_1:critical',
      'topup-failed#stripe#pi_2:warning',
    ]);
    expect([resolved, resolvedAgain, unknown]).toEqual([true, false, false]);
    expect((await fp.store.listOpenAlerts()).map((a) => a.subject)).toEqual(['stripe#pi_2']);
  });

  it('notifies once when the same event is raised concurrently', async () => {
    // Prepare
    const fp = await setUp();
    const event: OpsEvent = {
      kind: 'deduction-unknown',
      severity: 'critical',
      subject: 'stripe#pi_refund_7',
      summary: 'Deduction of 20 GB from customer 88 was sent but its answer was lost',
      details: { customer: '88', traffic: '20 GB' },
    };

    // Act
    await Promise.all(Array.from({ length: 5 }, () => fp.sink.raise(event)));

    // Assess
    expect(fp.published()).toEqual(['opened deduction-unknown critical']);
  });

  it('throws NotifierError when SNS refuses, and the next raise delivers the notice', async () => {
    // Prepare
    const fp = await setUp();
    sns
      .on(PublishCommand)
      .rejectsOnce(new Error('Service Unavailable'))
      .resolves({ MessageId: 'm' });

    // Act
    const first = fp.sink.raise(topupFailed('stripe#pi_3'));
    await expect(first).rejects.toBeInstanceOf(NotifierError);
    await fp.sink.raise(topupFailed('stripe#pi_3'));
    await fp.sink.raise(topupFailed('stripe#pi_3'));

    // Assess: the refused attempt, its retry, and nothing more.
    expect(fp.published()).toEqual(['opened topup-failed warning', 'opened topup-failed warning']);
  });

  describe('Method: remindDue', () => {
    it('reminds of an open event once per interval, with its own words, not before', async () => {
      // Prepare
      const fp = await setUp();
      await fp.sink.raise(deductionUnknown);

      // Act
      fp.later(REMINDER_MINUTES - 1);
      const early = await fp.sink.remindDue();
      fp.later(1);
      const due = await fp.sink.remindDue();
      const again = await fp.sink.remindDue();
      fp.later(REMINDER_MINUTES - 1);
      const beforeSecond = await fp.sink.remindDue();
      fp.later(1);
      const second = await fp.sink.remindDue();

      // Assess
      expect(early).toEqual([]);
      expect(due).toEqual([
        {
          rule: 'deduction-unknown',
          subject: deductionUnknown.subject,
          status: 'critical',
          notice: 'reminder',
          delivery: 'sent',
        },
      ]);
      expect([again, beforeSecond]).toEqual([[], []]);
      expect(second.map((c) => c.notice)).toEqual(['reminder']);
      expect(fp.published()).toEqual([
        'opened deduction-unknown critical',
        'reminder deduction-unknown critical',
        'reminder deduction-unknown critical',
      ]);
      const reminder = publishedTexts()[1];
      expect(reminder?.sms).toContain('FlowPilot REMINDER CRITICAL: Deduction needs a human');
      expect(reminder?.sms).toContain(': Deduction of 20 GB from customer 88');
      expect(reminder?.email).toContain('Reminder: still critical since 2025-03-01 00:00 UTC');
      expect(reminder?.email).toContain('  upstream: timeout after 10 s');
      expect(reminder?.email).toContain('What to do: Check the customer');
      for (const m of publishedTexts()) {
        expect(m.sms.length, m.sms).toBeLessThanOrEqual(160);
        expect(m.sms, m.sms).toMatch(/^[ -~]*$/);
        expect(m.subject.length, m.subject).toBeLessThan(100);
      }
      expect((await fp.store.get('deduction-unknown', deductionUnknown.subject))?.event).toEqual({
        summary: deductionUnknown.summary,
        details: deductionUnknown.details,
      });
    });

    it('never reminds of a resolved event, nor of the poll rules', async () => {
      // Prepare: a low-residual alert open for a day, which poll evaluation reminds of.
      const fp = await setUp();
      await fp.store.save(
        {
          rule: 'low-residual',
          subject: 'primary',
          status: 'critical',
          version: 1,
          openedAt: fp.now(),
          lastNotifiedAt: fp.now(),
          updatedAt: fp.now(),
        },
        undefined,
      );
      await fp.sink.raise(deductionUnknown);
      await fp.sink.resolve('deduction-unknown', deductionUnknown.subject, 'Checked by hand.');

      // Act
      fp.later(3 * REMINDER_MINUTES);
      const changes = await fp.sink.remindDue();

      // Assess
      expect(changes).toEqual([]);
      expect(fp.published()).toEqual([
        'opened deduction-unknown critical',
        'resolved deduction-unknown critical',
      ]);
    });

    it('reminds once when called concurrently', async () => {
      // Prepare
      const fp = await setUp();
      await fp.sink.raise(deductionUnknown);
      await fp.sink.raise(topupFailed('stripe#pi_4'));
      fp.later(REMINDER_MINUTES);

      // Act
      const runs = await Promise.all(Array.from({ length: 3 }, () => fp.sink.remindDue()));

      // Assess
      expect(fp.published().sort()).toEqual([
        'opened deduction-unknown critical',
        'opened topup-failed warning',
        'reminder deduction-unknown critical',
        'reminder topup-failed warning',
      ]);
      expect(runs.flat().filter((c) => c.delivery === 'sent')).toHaveLength(2);
    });
  });
});

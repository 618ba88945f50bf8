import { describe, expect, it } from 'vitest';
import {
  type AutoTopupNotices,
  customerAutoTopupNotices,
} from '../../functions/commons/autotopup/notices.ts';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { createTestTable } from '../helpers/dynamo.ts';
import { customerNotices, useAwsNoticeChannels } from '../helpers/notices.ts';

const aws = useAwsNoticeChannels();

const EMAIL = 'ada@example.net';
const PHONE = '+8613800138000';
const ACTION = 'https://shop.example.com/pay/pi_3DS';

/** Auto top-up's notices through the customer notices over DynamoDB Local, SES stand-in, SNS mock. */
async function setUp(at: string) {
  const table = await createTestTable('autotopup-notices');
  const customers = parseConfig({
    customers: {
      paymentLinkUrl: 'https://shop.example.com/pay?customer={customerId}',
      notices: {
        email: { from: 'traffic@notices.example.com' },
        defaultTimeZone: 'Asia/Shanghai',
        smsCountries: ['+86'],
      },
    },
  }).customers;
  let now = new Date(at);
  const { contacts, outbox, listener } = customerNotices(table, customers, {
    clock: () => now,
    ...aws.channels(customers),
  });
  const notices: AutoTopupNotices = customerAutoTopupNotices(listener);
  return {
    contacts,
    outbox,
    listener,
    notices,
    now: () => now,
    at: (iso: string) => {
      now = new Date(iso);
    },
    smsSent: () => aws.smsSent().map((input) => input.Message),
  };
}

const authRequired = {
  kind: 'authentication-required',
  customerId: '88',
  episode: 2,
  paymentIntentId: 'pi_3DS',
  link: ACTION,
} as const;
const turnedOff = {
  kind: 'turned-off',
  customerId: '88',
  episode: 3,
  reason: 'card_declined:generic_decline',
} as const;

describe('Function: customerAutoTopupNotices', () => {
  it('asks an English-speaking customer to authenticate, once, with the action link by email and SMS', async () => {
    // 10:00 in Shanghai: SMS is allowed.
    const t = await setUp('2026-12-01T02:00:00Z');
    await t.contacts.edit('88', { email: EMAIL, phone: PHONE, locale: 'en', name: 'Ada' }, t.now());

    await t.notices.send(authRequired);
    await t.notices.send(authRequired); // the engine re-runs the same step

    expect(aws.ses.sent).toHaveLength(1);
    expect(aws.ses.sent[0]).toMatchObject({
      to: [EMAIL],
      subject: 'Please confirm your automatic top-up',
      tags: { 'flowpilot-notice': 'autotopup-authentication', locale: 'en' },
    });
    expect(aws.ses.sent[0]?.text).toBe(
      [
        'Hello Ada,',
        '',
        'Your bank asks you to confirm the automatic top-up of your proxy traffic (3-D Secure).',
        'Nothing was charged yet. Confirm the payment once so that your proxies keep working.',
        '',
        `Confirm the payment here: ${ACTION}`,
        '',
        'Customer 88',
        'This is an automatic message about your proxy traffic.',
        '',
      ].join('\n'),
    );
    expect(t.smsSent()).toEqual([
      `Your bank asks you to confirm your automatic top-up. Confirm the payment: ${ACTION}`,
    ]);
    const outbox = await t.outbox.forCustomer('88');
    expect(outbox.map((e) => `${e.noticeId} ${e.channel} ${e.status}`).sort()).toEqual([
      'autotopup-authentication#2#pi_3DS email sent',
      'autotopup-authentication#2#pi_3DS sms sent',
    ]);
  });

  it('tells a Chinese-speaking customer that auto top-up is off, with the payment link, SMS after quiet hours', async () => {
    // 23:30 in Shanghai: email now, SMS at 08:00.
    const t = await setUp('2026-12-01T15:30:00Z');
    await t.contacts.edit('88', { email: EMAIL, phone: PHONE, locale: 'zh-CN' }, t.now());

    await t.notices.send(turnedOff);

    expect(aws.ses.sent).toHaveLength(1);
    expect(aws.ses.sent[0]?.subject).toBe('自动充值已关闭');
    expect(aws.ses.sent[0]?.text).toBe(
      [
        '您好：',
        '',
        '您的银行卡多次被拒绝，自动充值已关闭。',
        '请手动充值，或更新银行卡后重新开启自动充值。',
        '',
        '充值链接： https://shop.example.com/pay?customer=88',
        '',
        '客户编号 88',
        '此邮件由系统自动发送，请勿直接回复。',
        '',
      ].join('\n'),
    );
    expect(t.smsSent()).toEqual([]);

    t.at('2026-12-02T00:00:00Z'); // 08:00 local
    await t.notices.send(turnedOff); // seen again: not recorded twice
    expect(await t.listener.deliverDue()).toEqual(['sent']);
    expect(t.smsSent()).toEqual([
      '您的银行卡多次被拒绝，自动充值已关闭。充值链接： https://shop.example.com/pay?customer=88',
    ]);
    expect(aws.ses.sent).toHaveLength(1);
    expect((await t.outbox.forCustomer('88')).map((e) => e.noticeId)).toEqual([
      'autotopup-off#3',
      'autotopup-off#3',
    ]);
  });

  it('sends nothing to a customer who opted out, and keeps the skipped notice for the operator', async () => {
    const t = await setUp('2026-12-01T02:00:00Z');
    await t.contacts.edit('88', { email: EMAIL, phone: PHONE, notices: false }, t.now());

    await t.notices.send(authRequired);
    await t.notices.send(turnedOff);

    expect(aws.ses.sent).toHaveLength(0);
    expect(t.smsSent()).toHaveLength(0);
    const outbox = await t.outbox.forCustomer('88');
    expect(outbox.map((e) => `${e.kind} ${e.channel} ${e.status} ${e.reason}`).sort()).toEqual([
      'autotopup-authentication none skipped opted out',
      'autotopup-off none skipped opted out',
    ]);
  });
});

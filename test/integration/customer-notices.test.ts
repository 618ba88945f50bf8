import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { confirmContact } from '../../functions/commons/customer-notices/confirm.ts';
import {
  CustomerNotices,
  MAX_ATTEMPTS,
  RETRY_AFTER_MS,
} from '../../functions/commons/customer-notices/listener.ts';
import { NoticeStateStore } from '../../functions/commons/customer-notices/store/customer-notice-state.ts';
import { confirmLinks } from '../../functions/commons/customer-notices/wiring.ts';
import type {
  BalanceChange,
  CustomerBalance,
  CustomerCredit,
} from '../../functions/commons/customers/types.ts';
import { gbToMb } from '../../functions/commons/units.ts';
import { customerBalance } from '../helpers/balances.ts';
import { createTestTable } from '../helpers/dynamo.ts';
import { customerNotices, transactionalSms, useAwsNoticeChannels } from '../helpers/notices.ts';

const aws = useAwsNoticeChannels();

const LINK = 'https://shop.example.com/pay?customer={customerId}';
const CONFIRM = 'https://shop.example.com/portal/confirm-contact?token={token}';
const PORTAL_SECRET = 'portal-secret-for-tests-0123456789abcdef';
const EMAIL = 'ada@example.net';
const PHONE = '+8613800138000';

function config(over: Record<string, unknown> = {}) {
  return parseConfig({
    customers: {
      paymentLinkUrl: LINK,
      notices: {
        email: { from: 'traffic@notices.example.com', fromName: 'Proxy Shop' },
        defaultTimeZone: 'Asia/Shanghai',
        smsCountries: ['+86'],
        confirmContactUrl: CONFIRM,
        ...over,
      },
    },
  }).customers;
}

async function setUp(
  over: Record<string, unknown> = {},
  at = '2026-12-01T02:00:00Z',
  automatic: ReadonlySet<string> = new Set(),
  portalSecret = PORTAL_SECRET,
) {
  const table = await createTestTable('notices');
  const customers = config(over);
  let now = new Date(at);
  const { contacts, outbox, listener } = customerNotices(table, customers, {
    clock: () => now,
    chargedAutomatically: async (ids) => new Set(ids.filter((id) => automatic.has(id))),
    confirmLink: confirmLinks(customers.notices.confirmContactUrl, {
      PORTAL_SECRET: portalSecret,
    }),
    ...aws.channels(customers),
  });
  let last: CustomerBalance | undefined;
  /** Feeds the listener one computation for customer 88 and remembers it as the next `before`. */
  const poll = async (gb: number, opts: { credits?: CustomerCredit[]; daysLeft?: number } = {}) => {
    const after: CustomerBalance = {
      customerId: '88',
      account: 'ada01',
      balanceMb: gbToMb(gb).toFixed(),
      burn1dMb: '1024',
      burn7dMb: '1024',
      daysLeft: opts.daysLeft ?? null,
      lastCreditMb: opts.credits?.at(-1)?.mb ?? last?.lastCreditMb ?? null,
      lastCreditAt: opts.credits?.at(-1)?.at ?? last?.lastCreditAt ?? null,
      asOf: now.toISOString(),
    };
    const change: BalanceChange = { before: last, after, credits: opts.credits ?? [] };
    last = after;
    return listener.run([change]);
  };
  return {
    table,
    last: () => {
      if (!last) throw new Error('poll first');
      return last;
    },
    contacts,
    outbox,
    listener,
    poll,
    now: () => now,
    at: (iso: string) => {
      now = new Date(iso);
    },
    smsSent: aws.smsSent,
  };
}

const credit = (gb: number, at: string, orderId?: string): CustomerCredit => ({
  mb: gbToMb(gb).toFixed(),
  at,
  ...(orderId ? { orderId } : {}),
});

describe('Class: CustomerNotices', () => {
  describe('Method: onBalances', () => {
    it('sends one running-low notice per episode, by SES and SNS exactly, with hysteresis', async () => {
      // Prepare: 10:00 in Shanghai, a customer known at 50 GB.
      const t = await setUp();
      await t.contacts.edit(
        '88',
        { email: EMAIL, phone: PHONE, locale: 'en', name: 'Ada' },
        t.now(),
      );
      await t.poll(50);
      expect(aws.ses.sent).toHaveLength(0);

      // Act: below 5 GB.
      await t.poll(4, { daysLeft: 2.5 });

      // Assess: one email and one SMS, word for word.
      expect(aws.ses.sent).toEqual([
        {
          messageId: expect.any(String),
          from: '"Proxy Shop" <traffic@notices.example.com>',
          to: [EMAIL],
          replyTo: [],
          subject: 'Your proxy traffic is running low: 4 GB left',
          subjectCharset: 'UTF-8',
          text: [
            'Hello Ada,',
            '',
            'Your traffic balance is 4 GB (about 2 days left at your current usage).',
            'Top up now so that your proxies keep working.',
            '',
            'Top up here: https://shop.example.com/pay?customer=88',
            '',
            'Customer 88 (account ada01)',
            'This is an automatic message about your proxy traffic.',
            '',
          ].join('\n'),
          tags: { 'flowpilot-notice': 'running-low', locale: 'en' },
          headers: {},
          signedFor: 'ses',
        },
      ]);
      expect(t.smsSent()).toEqual([
        transactionalSms(
          PHONE,
          'Your proxy traffic is running low: 4 GB left, about 2 d. Top up to keep your proxies working. https://shop.example.com/pay?customer=88',
        ),
      ]);

      // Still low, then hovering just above 5 GB (under 5.5 with 10 % hysteresis): silence.
      await t.poll(3);
      await t.poll(5.2);
      await t.poll(4.9);
      expect(aws.ses.sent).toHaveLength(1);
      expect(t.smsSent()).toHaveLength(1);

      // Clear of the hysteresis, then low again: a new episode, a new notice.
      await t.poll(6);
      await t.poll(4.5);
      expect(aws.ses.sent.map((e) => e.subject)).toEqual([
        'Your proxy traffic is running low: 4 GB left',
        'Your proxy traffic is running low: 4.5 GB left',
      ]);
      const outbox = await t.outbox.forCustomer('88');
      expect(outbox.map((e) => `${e.noticeId} ${e.channel} ${e.status}`).sort()).toEqual([
        'running-low#1 email sent',
        'running-low#1 sms sent',
        'running-low#2 email sent',
        'running-low#2 sms sent',
      ]);
      expect(
        outbox
          .filter((e) => e.channel === 'email')
          .map((e) => e.messageId)
          .sort(),
      ).toEqual(aws.ses.sent.map((e) => e.messageId).sort());
    });

    it('sends no running-low notice to a customer auto top-up charges, but used-up and receipts', async () => {
      // Prepare: customer 88's saved card is charged automatically.
      const t = await setUp({}, '2026-12-01T02:00:00Z', new Set(['88']));
      await t.contacts.edit('88', { email: EMAIL, locale: 'en' }, t.now());
      await t.poll(50);

      // Act: low (the charge comes instead), then used up, then credited.
      await t.poll(4, { daysLeft: 2 });
      const afterLow = aws.ses.sent.length;
      await t.poll(0);
      await t.poll(10, { credits: [credit(10, t.now().toISOString())] });

      // Assess
      expect(afterLow).toBe(0);
      expect(aws.ses.sent.map((e) => e.tags['flowpilot-notice'])).toEqual(['used-up', 'topped-up']);
    });

    it('sends a receipt after a top-up and no running-low reminder after it', async () => {
      const t = await setUp();
      await t.contacts.edit('88', { email: EMAIL, locale: 'en' }, t.now());
      await t.poll(20);
      await t.poll(4);
      expect(aws.ses.sent.map((e) => e.subject)).toEqual([
        'Your proxy traffic is running low: 4 GB left',
      ]);

      // A top-up too small to lift the balance out of "low": a receipt, and nothing else.
      await t.poll(4.5, { credits: [credit(1, '2026-12-01T01:50:00Z', 'stripe-cs_1')] });
      await t.poll(4.2);
      await t.poll(3.9);
      // A proper top-up, seen twice (the balance poll retried): one receipt.
      const big = credit(100, '2026-12-01T01:58:00Z', 'stripe-cs_2');
      await t.poll(103.9, { credits: [big] });
      expect(aws.ses.sent.map((e) => e.subject)).toEqual([
        'Your proxy traffic is running low: 4 GB left',
        'Top-up received: +1 GB',
        'Top-up received: +100 GB',
      ]);
      expect(aws.ses.sent[2]?.text).toContain(
        'We added 100 GB to your account.\nYour new balance is 103.9 GB.',
      );
      expect(aws.ses.sent[2]?.text).not.toContain('Top up here');
      const again = await t.listener.run([
        {
          before: undefined,
          after: customerBalance('88', 103.9, t.now(), {
            lastCreditMb: big.mb,
            lastCreditAt: big.at,
          }),
          credits: [big],
        },
      ]);
      expect(again.saved).toBe(0);
      // Draining the 100 GB: low below 20 % of the last top-up (20 GB) once, not before.
      await t.poll(50);
      await t.poll(21);
      expect(aws.ses.sent).toHaveLength(3);
      await t.poll(19.5);
      expect(aws.ses.sent.map((e) => e.subject).at(-1)).toBe(
        'Your proxy traffic is running low: 19.5 GB left',
      );
      expect(aws.ses.sent).toHaveLength(4);
    });

    it('tells a Chinese-speaking customer once that the traffic is used up, with the payment link', async () => {
      const t = await setUp();
      await t.contacts.edit('88', { email: EMAIL, phone: PHONE, locale: 'zh-CN' }, t.now());
      await t.poll(2);
      await t.poll(-0.25);
      await t.poll(-0.5);
      expect(aws.ses.sent).toHaveLength(1);
      expect(aws.ses.sent[0]?.subject).toBe('您的代理流量已用完');
      expect(aws.ses.sent[0]?.text).toBe(
        [
          '您好：',
          '',
          '您的流量余额已用完（余额 -0.25 GB）。',
          '充值后代理即可恢复使用。',
          '',
          '充值链接： https://shop.example.com/pay?customer=88',
          '',
          '客户编号 88（账户 ada01）',
          '此邮件由系统自动发送，请勿直接回复。',
          '',
        ].join('\n'),
      );
      expect(aws.ses.sent[0]?.tags.locale).toBe('zh-CN');
      expect(t.smsSent()).toEqual([
        transactionalSms(
          PHONE,
          '您的代理流量已用完（余额 -0.25 GB），充值后即可恢复使用。 https://shop.example.com/pay?customer=88',
        ),
      ]);
      // The top-up receipt in Chinese ends the episode.
      await t.poll(99.75, { credits: [credit(100, '2026-12-01T01:59:00Z', 'o-9')] });
      expect(aws.ses.sent[1]?.subject).toBe('充值成功：+100 GB');
      expect(aws.ses.sent[1]?.text).toContain('当前余额为 99.75 GB。');
    });

    it('sends nothing while the customer has opted out, and no backlog after opting in', async () => {
      const t = await setUp();
      await t.contacts.edit('88', { email: EMAIL, phone: PHONE, notices: false }, t.now());
      await t.poll(20);
      await t.poll(4);
      await t.poll(-1);
      await t.poll(50, { credits: [credit(51, '2026-12-01T01:00:00Z', 'o-1')] });
      expect(aws.ses.sent).toHaveLength(0);
      expect(t.smsSent()).toHaveLength(0);
      const outbox = await t.outbox.forCustomer('88');
      expect(outbox.map((e) => `${e.kind} ${e.channel} ${e.status} ${e.reason}`).sort()).toEqual([
        'running-low none skipped opted out',
        'topped-up none skipped opted out',
        'used-up none skipped opted out',
      ]);
      await t.contacts.edit('88', { notices: true }, t.now());
      await t.poll(49);
      expect(aws.ses.sent).toHaveLength(0);
      await t.poll(4);
      expect(aws.ses.sent).toHaveLength(1);
    });

    it('holds SMS to 08:00-22:00 in the customer’s zone and emails at once', async () => {
      // 23:30 in Shanghai (15:30 UTC); the contact's own zone is Shanghai, the default UTC.
      const t = await setUp({ defaultTimeZone: 'UTC' }, '2026-12-01T15:30:00Z');
      await t.contacts.edit(
        '88',
        { email: EMAIL, phone: PHONE, timeZone: 'Asia/Shanghai' },
        t.now(),
      );
      await t.poll(20);
      await t.poll(4);
      expect(aws.ses.sent).toHaveLength(1);
      expect(t.smsSent()).toHaveLength(0);
      const [deferred] = (await t.outbox.forCustomer('88')).filter((e) => e.channel === 'sms');
      expect(deferred).toMatchObject({ status: 'deferred', notBefore: '2026-12-02T00:00:00.000Z' });

      t.at('2026-12-01T23:59:00Z'); // 07:59 local
      await t.listener.deliverDue();
      expect(t.smsSent()).toHaveLength(0);
      t.at('2026-12-02T00:00:00Z'); // 08:00 local
      expect(await t.listener.deliverDue()).toEqual(['sent']);
      expect(t.smsSent().map((s) => s.Message?.slice(0, 34))).toEqual([
        'Your proxy traffic is running low:',
      ]);
    });

    it('drops a running-low SMS that a night-time top-up made moot, and sends the receipt at 08:00', async () => {
      const t = await setUp({}, '2026-12-01T15:30:00Z'); // 23:30 in Shanghai (the default zone)
      await t.contacts.edit('88', { phone: PHONE }, t.now());
      await t.poll(20);
      await t.poll(4);
      t.at('2026-12-01T17:00:00Z'); // 01:00 local
      await t.poll(104, { credits: [credit(100, '2026-12-01T16:59:00Z', 'o-2')] });
      expect(t.smsSent()).toHaveLength(0);
      t.at('2026-12-02T00:05:00Z');
      expect((await t.listener.deliverDue()).sort()).toEqual(['dropped', 'sent']);
      expect(t.smsSent().map((s) => s.Message)).toEqual([
        'Top-up received: +100 GB. New balance 104 GB.',
      ]);
    });

    it('retries a throttled email later and gives up on a rejected one', async () => {
      const t = await setUp();
      await t.contacts.edit('88', { email: EMAIL }, t.now());
      await t.poll(20);
      // The SDK's own three attempts all throttled.
      aws.ses.failNext(3, 429, 'TooManyRequestsException');
      await t.poll(4);
      expect(aws.ses.sent).toHaveLength(0);
      const [entry] = await t.outbox.forCustomer('88');
      expect(entry).toMatchObject({ status: 'retry', attempts: 1 });
      t.at(new Date(t.now().getTime() + RETRY_AFTER_MS).toISOString());
      expect(await t.listener.deliverDue()).toEqual(['sent']);
      expect(aws.ses.sent).toHaveLength(1);

      // A sender SES does not know: rejected at once, never retried.
      aws.ses.failNext(1, 400, 'MessageRejected');
      await t.poll(-1);
      const used = (await t.outbox.forCustomer('88')).find((e) => e.kind === 'used-up');
      expect(used).toMatchObject({ status: 'failed', attempts: 1 });
      expect(used?.reason).toContain('MessageRejected');

      // Throttled on every attempt: failed after MAX_ATTEMPTS, then never tried again.
      aws.ses.failNext(3 * MAX_ATTEMPTS, 429, 'TooManyRequestsException');
      await t.poll(50, { credits: [credit(51, '2026-12-01T01:00:00Z', 'o-7')] });
      const outcomes: string[] = [];
      for (let i = 0; i < MAX_ATTEMPTS; i++) {
        t.at(new Date(t.now().getTime() + RETRY_AFTER_MS).toISOString());
        outcomes.push(...(await t.listener.deliverDue()));
      }
      expect(outcomes).toEqual([...Array(MAX_ATTEMPTS - 2).fill('retry'), 'failed']);
      const receipt = (await t.outbox.forCustomer('88')).find((e) => e.kind === 'topped-up');
      expect(receipt).toMatchObject({ status: 'failed', attempts: MAX_ATTEMPTS });
    });

    it('sends one notice when two runs race over the same change', async () => {
      const t = await setUp();
      await t.contacts.edit('88', { email: EMAIL }, t.now());
      await t.poll(20);
      const twin = new CustomerNotices({
        config: config().notices,
        contacts: t.contacts,
        state: new NoticeStateStore(t.table.doc, t.table.tableName),
        outbox: t.outbox,
        clock: t.now,
        ...aws.channels(config()),
      });
      const low: BalanceChange = {
        before: { ...t.last(), balanceMb: gbToMb(20).toFixed() },
        after: customerBalance('88', 1, t.now()),
        credits: [],
      };
      const [a, b] = await Promise.all([t.listener.run([low]), twin.run([low])]);
      expect(a.saved + b.saved).toBe(1);
      // Both read the state before either wrote (the usual case): the loser saw a conflict.
      expect(a.conflicts + b.conflicts).toBeLessThanOrEqual(1);
      expect(aws.ses.sent).toHaveLength(1);
    });

    it('starts quietly for a customer seen for the first time', async () => {
      const t = await setUp();
      await t.contacts.edit('88', { email: EMAIL }, t.now());
      await t.poll(-3, { credits: [credit(10, '2026-01-01T00:00:00Z', 'old')] });
      await t.poll(-3.5);
      expect(aws.ses.sent).toHaveLength(0);
    });
  });
});

describe('Class: CustomerNotices (what a payer typed)', () => {
  const tokenIn = (text: string | undefined) => {
    const m = /confirm-contact\?token=([\w.-]+)/.exec(text ?? '');
    if (!m?.[1]) throw new Error('no confirmation link in the email');
    return m[1];
  };

  it('sends a contact captured from a payment receipts only, with a link to confirm, and every notice once confirmed', async () => {
    // Prepare: nothing bound; a payment named an email and a phone.
    const t = await setUp();
    await t.contacts.capture(
      '88',
      { email: 'payer@example.org', phone: PHONE },
      t.now(),
      'stripe-cs_9',
    );
    await t.poll(20);

    // Act: running low, then used up, then a top-up.
    await t.poll(4, { daysLeft: 2 });
    await t.poll(-1);
    await t.poll(9, { credits: [credit(10, t.now().toISOString(), 'stripe-cs_9')] });

    // Assess: only the receipt went out, by email (with the link) and by SMS.
    expect(aws.ses.sent.map((e) => `${e.to.join()} ${e.tags['flowpilot-notice']}`)).toEqual([
      'payer@example.org topped-up',
    ]);
    expect(aws.ses.sent[0]?.text).toContain(
      'confirm it on\nyour customer page (open your own customer link first):\nhttps://shop.example.com/portal/confirm-contact?token=',
    );
    expect(t.smsSent().map((s) => s.Message)).toEqual(['Top-up received: +10 GB.']);
    const outbox = await t.outbox.forCustomer('88');
    expect(
      outbox.map((e) => `${e.kind} ${e.channel} ${e.status} ${e.reason ?? ''}`).sort(),
    ).toEqual([
      'running-low none skipped no contact',
      'topped-up email sent ',
      'topped-up sms sent ',
      'used-up none skipped no contact',
    ]);

    // The customer opens the link on their own page (their signed link's session is 88).
    const confirmed = await confirmContact(
      tokenIn(aws.ses.sent[0]?.text),
      '88',
      {
        contacts: t.contacts,
        secret: async () => PORTAL_SECRET,
        clock: t.now,
      },
      'payer@example.org',
    );
    expect(confirmed).toEqual({ customerId: '88', email: 'p***@example.org', already: false });
    await t.poll(4);
    expect(aws.ses.sent.map((e) => `${e.to.join()} ${e.tags['flowpilot-notice']}`)).toEqual([
      'payer@example.org topped-up',
      'payer@example.org running-low',
    ]);
    expect(t.smsSent()).toHaveLength(1);
  });

  it('sends a captured address only the receipt of the payment that named it, without the account or balance', async () => {
    // Prepare: nothing bound; the customer's own payment named their email, then a stranger
    // paid with client_reference_id=88 and their own email and phone (issue #27).
    const t = await setUp();
    await t.contacts.capture('88', { email: 'owner@example.org' }, t.now(), 'ORDER#stripe#cs_own');
    await t.contacts.capture(
      '88',
      { email: 'stranger@example.org', phone: '+8613900000000' },
      new Date(t.now().getTime() + 60_000),
      'ORDER#stripe#cs_stranger',
    );
    await t.poll(20);

    // Act: both payments land, then an operator credit and an auto top-up.
    const at = t.now().toISOString();
    await t.poll(40, {
      credits: [credit(10, at, 'ORDER#stripe#cs_own'), credit(10, at, 'ORDER#stripe#cs_stranger')],
    });
    await t.poll(50, { credits: [credit(10, at)] });
    await t.poll(60, { credits: [credit(10, at, 'ORDER#stripe#pi_auto')] });

    // Assess: each payer got their own receipt only; the stranger learns no account or balance.
    expect(aws.ses.sent.map((e) => `${e.to.join()} ${e.subject}`).sort()).toEqual([
      'owner@example.org Top-up received: +10 GB',
      'stranger@example.org Top-up received: +10 GB',
    ]);
    const toStranger = aws.ses.sent.find((e) => e.to.includes('stranger@example.org'));
    expect(toStranger?.text).not.toMatch(/ada01|balance/i);
    expect(t.smsSent().map((s) => `${s.PhoneNumber} ${s.Message}`)).toEqual([
      '+8613900000000 Top-up received: +10 GB.',
    ]);
  });

  it('sends the receipt without the link when the link cannot be signed', async () => {
    const t = await setUp({}, '2026-12-01T02:00:00Z', new Set(), 'too-short');
    await t.contacts.capture('88', { email: 'payer@example.org' }, t.now(), 'stripe-cs_7');
    await t.poll(20);
    await t.poll(29, { credits: [credit(9, t.now().toISOString(), 'stripe-cs_7')] });
    expect(aws.ses.sent.map((e) => e.subject)).toEqual(['Top-up received: +9 GB']);
    expect(aws.ses.sent[0]?.text).not.toContain('confirm');
  });

  it('sends every notice to the operator’s address, never to one a later payment names', async () => {
    const t = await setUp();
    await t.contacts.edit('88', { email: EMAIL }, t.now());
    await t.contacts.capture('88', { email: 'stranger@example.org' }, t.now(), 'stripe-cs_8');
    await t.poll(20);
    await t.poll(4);
    await t.poll(30, { credits: [credit(26, t.now().toISOString(), 'stripe-cs_8')] });
    expect(aws.ses.sent.map((e) => `${e.to.join()} ${e.tags['flowpilot-notice']}`)).toEqual([
      `${EMAIL} running-low`,
      `${EMAIL} topped-up`,
    ]);
    // No confirmation link goes to the operator's address: nothing waits for confirmation there.
    expect(aws.ses.sent[1]?.text).not.toContain('confirm');
  });

  it('never puts a payer’s name in a message, nor any name carrying a line break or a link', async () => {
    // Prepare: a contact as the previous release stored it, with a payer's name.
    const t = await setUp();
    await t.table.doc.send(
      new PutCommand({
        TableName: t.table.tableName,
        Item: {
          pk: 'CUSTOMER#88',
          sk: 'CONTACT',
          entity: 'customer-contact',
          customerId: '88',
          email: EMAIL,
          paymentName: 'Ada\nYour account is locked. Verify at https://evil.example/login',
        },
      }),
    );
    await t.poll(20);
    await t.poll(4);
    // An operator's name with a link in it is dropped as well.
    await t.contacts.edit('88', { name: 'Ada www.evil.example' }, t.now());
    await t.poll(-1);

    expect(aws.ses.sent).toHaveLength(2);
    for (const mail of aws.ses.sent) {
      expect(mail.text.startsWith('Hello,\n\n')).toBe(true);
      expect(mail.text).not.toContain('evil');
    }
  });

  it('texts only numbers in the allowed countries, and nobody when none are allowed', async () => {
    const t = await setUp({ smsCountries: ['+86', '+1'] });
    await t.contacts.edit('88', { email: EMAIL, phone: '+252612345678' }, t.now());
    await t.poll(20);
    await t.poll(4);
    expect(t.smsSent()).toEqual([]);
    expect(aws.ses.sent).toHaveLength(1);
    const sms = (await t.outbox.forCustomer('88')).filter((e) => e.channel === 'sms');
    expect(sms.map((e) => `${e.status} ${e.reason}`)).toEqual(['skipped country not allowed']);

    // The default: no customer SMS at all.
    const none = await setUp({ smsCountries: undefined });
    await none.contacts.edit('88', { phone: PHONE }, none.now());
    await none.poll(20);
    await none.poll(4);
    expect(none.smsSent()).toEqual([]);
  });

  it('caps notices per customer and day, keeping the last one of the day for a receipt', async () => {
    // Prepare: two emails a day; reminders may use one of them.
    const t = await setUp({ dailyCap: { email: 2 } });
    await t.contacts.edit('88', { email: EMAIL }, t.now());
    await t.poll(20);

    // Act: running low, used up (over the reminders' share), two top-ups (the second over).
    await t.poll(4);
    await t.poll(-1);
    await t.poll(9, { credits: [credit(10, t.now().toISOString(), 'o-1')] });
    await t.poll(29, { credits: [credit(20, t.now().toISOString(), 'o-2')] });
    // The next day (in Shanghai) counts afresh.
    t.at('2026-12-01T16:30:00Z');
    await t.poll(4);

    // Assess
    expect(aws.ses.sent.map((e) => e.tags['flowpilot-notice'])).toEqual([
      'running-low',
      'topped-up',
      'running-low',
    ]);
    const outbox = await t.outbox.forCustomer('88');
    expect(outbox.map((e) => `${e.noticeId} ${e.status} ${e.reason ?? ''}`).sort()).toEqual([
      'running-low#1 sent ',
      'running-low#3 sent ',
      'topped-up#o-1 sent ',
      'topped-up#o-2 capped over the daily cap of 2',
      'used-up#2 capped over the daily cap of 2',
    ]);
  });

  it('counts the daily cap atomically: of many sends at once, exactly the cap get through', async () => {
    const t = await setUp();
    const results = await Promise.all(
      Array.from({ length: 12 }, () => t.outbox.countSend('88', 'sms', '2026-12-01', 3)),
    );
    expect(results.filter(Boolean)).toHaveLength(3);
    expect(await t.outbox.countSend('88', 'sms', '2026-12-02', 3)).toBe(true);
    expect(await t.outbox.countSend('88', 'email', '2026-12-01', 3)).toBe(true);
  });
});

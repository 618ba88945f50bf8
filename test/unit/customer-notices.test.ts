import { describe, expect, it } from 'vitest';
import { sesClientFor } from '../../functions/commons/clients/ses.ts';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { sendEmailInput } from '../../functions/commons/customer-notices/channels.ts';
import {
  CONFIRM_TOKEN_DAYS,
  signConfirmToken,
  verifyConfirmToken,
} from '../../functions/commons/customer-notices/confirm.ts';
import { noticeDelivery } from '../../functions/commons/customer-notices/delivery.ts';
import {
  decideNotices,
  lowReasons,
  thresholdsFor,
} from '../../functions/commons/customer-notices/episodes.ts';
import { smsAllowed } from '../../functions/commons/customer-notices/listener.ts';
import {
  paymentLinkFor,
  plainName,
  renderNotice,
  SMS_MAX,
} from '../../functions/commons/customer-notices/messages.ts';
import { inSmsWindow, nextSmsTime } from '../../functions/commons/customer-notices/quiet-hours.ts';
import { normaliseLocale } from '../../functions/commons/customer-notices/store/customer-contacts.ts';
import type { OutboxEntry } from '../../functions/commons/customer-notices/store/notice-outbox.ts';
import { balanceFigures, emptyBalance } from '../../functions/commons/customers/balance.ts';
import type { CustomerBalance } from '../../functions/commons/customers/types.ts';
import { gbToMb } from '../../functions/commons/units.ts';
import { customerBalance } from '../helpers/balances.ts';

const window = (timeZone: string) => ({ fromHour: 8, toHour: 22, timeZone });

describe('quiet hours', () => {
  it('allows SMS from 08:00 to before 22:00 local time', () => {
    const shanghai = window('Asia/Shanghai');
    expect(inSmsWindow(new Date('2026-12-01T00:00:00Z'), shanghai)).toBe(true); // 08:00
    expect(inSmsWindow(new Date('2026-12-01T13:59:59Z'), shanghai)).toBe(true); // 21:59:59
    expect(inSmsWindow(new Date('2026-12-01T14:00:00Z'), shanghai)).toBe(false); // 22:00
    expect(inSmsWindow(new Date('2026-11-30T23:59:59Z'), shanghai)).toBe(false); // 07:59:59
  });

  it('defers to the next 08:00 in the zone, today or tomorrow', () => {
    const shanghai = window('Asia/Shanghai');
    expect(nextSmsTime(new Date('2026-12-01T14:30:00Z'), shanghai).toISOString()).toBe(
      '2026-12-02T00:00:00.000Z',
    );
    expect(nextSmsTime(new Date('2026-12-01T19:00:00Z'), shanghai).toISOString()).toBe(
      '2026-12-02T00:00:00.000Z',
    );
    const now = new Date('2026-12-01T05:00:00Z');
    expect(nextSmsTime(now, shanghai)).toBe(now);
  });

  it('lands on 08:00 local across a daylight-saving change overnight', () => {
    // New York springs forward at 02:00 on 2026-03-08: 08:00 that morning is 12:00 UTC.
    const ny = window('America/New_York');
    expect(nextSmsTime(new Date('2026-03-08T04:30:00Z'), ny).toISOString()).toBe(
      '2026-03-08T12:00:00.000Z',
    );
    // And falls back on 2026-11-01: 08:00 is 13:00 UTC.
    expect(nextSmsTime(new Date('2026-11-01T03:00:00Z'), ny).toISOString()).toBe(
      '2026-11-01T13:00:00.000Z',
    );
  });
});

const b = (gb: number, extra: Partial<CustomerBalance> = {}) =>
  customerBalance('88', gb, '2026-12-01T00:00:00Z', extra);

describe('episodes', () => {
  const t = { gb: 5, percentOfLastTopUp: 20, daysLeft: 3 };
  const now = new Date('2026-12-01T00:00:00Z');

  it('names every running-low trigger that holds, each one switchable off with 0', () => {
    const low = b(10, { lastCreditMb: gbToMb(100).toFixed(), daysLeft: 2 });
    expect(lowReasons(low, t)).toEqual(['percent', 'days']);
    expect(lowReasons(b(4.99), t)).toEqual(['gb']);
    expect(lowReasons(b(4.99), thresholdsFor(t, { gb: 0 }))).toEqual([]);
    expect(lowReasons(low, thresholdsFor(t, { daysLeft: 0, percentOfLastTopUp: 5 }))).toEqual([]);
  });

  it('opens a used-up episode at exactly zero', () => {
    const state = { customerId: '88', level: 'low' as const, episode: 1, since: '', version: 3 };
    const d = decideNotices(state, { before: b(1), after: b(0), credits: [] }, t, 10, now);
    expect(d.notices.map((n) => n.noticeId)).toEqual(['used-up#2']);
    expect(d.next).toMatchObject({ level: 'empty', episode: 2, version: 4 });
  });

  it('opens no episode on a balance negative only for want of an opening; receipts still go', () => {
    // Never calibrated: 10 GB bought, 30 GB used since the records begin.
    const state = {
      ...emptyBalance('88'),
      creditsMb: gbToMb(10),
      recent: new Map([['2026-11-30', gbToMb(30)]]),
    };
    const figures = balanceFigures(state, '2026-12-01', now);
    const ok = { customerId: '88', level: 'ok' as const, episode: 0, since: '', version: 1 };
    const credit = { mb: '1024', at: '2026-11-30T23:00:00Z' };

    const quiet = decideNotices(ok, { before: b(1), after: figures, credits: [] }, t, 10, now);
    const paid = decideNotices(
      ok,
      { before: figures, after: figures, credits: [credit] },
      t,
      10,
      now,
    );

    expect(figures).toMatchObject({ uncalibrated: true, daysLeft: null });
    expect(quiet).toMatchObject({ changed: false, notices: [] });
    expect(paid.notices.map((n) => n.kind)).toEqual(['topped-up']);
    expect(paid.next).toMatchObject({ level: 'ok', episode: 0, version: 2 });
  });

  it('sends no receipt for a credit from the past (a backfill)', () => {
    const state = { customerId: '88', level: 'ok' as const, episode: 0, since: '', version: 1 };
    const old = { mb: '1024', at: '2026-11-01T00:00:00Z' };
    const d = decideNotices(state, { before: b(9), after: b(10), credits: [old] }, t, 10, now);
    expect(d.notices).toEqual([]);
  });
});

describe('notice texts', () => {
  it('stays within two SMS segments in each locale, whatever the link', () => {
    const link = `https://pay.example.com/${'x'.repeat(300)}`;
    for (const locale of ['en', 'zh-CN'] as const) {
      for (const kind of ['running-low', 'used-up', 'topped-up'] as const) {
        const r = renderNotice(
          {
            kind,
            customerId: '88',
            balanceMb: '1024',
            daysLeft: 1,
            creditMb: '1024',
            paymentLink: link,
          },
          locale,
        );
        expect([...r.sms].length).toBeLessThanOrEqual(SMS_MAX[locale]);
        // GSM-7 stays GSM-7: no character that would switch an English SMS to UCS-2.
        if (locale === 'en') expect(r.sms).toMatch(/^[\x20-\x7e]*$/);
        expect(r.subject.length).toBeGreaterThan(0);
      }
    }
  });

  it('greets by a name only when it is plain text: no line break, no link, no address', () => {
    const hello = (name: string, locale: 'en' | 'zh-CN' = 'en') =>
      renderNotice(
        { kind: 'running-low', customerId: '88', balanceMb: '1024', name },
        locale,
      ).email.split('\n')[0];
    expect(hello('Ada\nYour account is locked. Verify at https://evil.example/login')).toBe(
      'Hello,',
    );
    expect(hello('Ada www.evil.example')).toBe('Hello,');
    expect(hello('Ada evil.com')).toBe('Hello,');
    expect(hello('support@evil.example')).toBe('Hello,');
    expect(hello('\u202eAda\u0007 Lovelace\r\n')).toBe('Hello Ada Lovelace,');
    expect(hello('李雷', 'zh-CN')).toBe('李雷，您好：');
    expect(plainName('x'.repeat(100))).toHaveLength(40);
    // The account line goes through the same filter.
    const account = renderNotice(
      { kind: 'used-up', customerId: '88', balanceMb: '0', account: 'ada01\nhttps://evil.example' },
      'en',
    ).email;
    expect(account).toContain('Customer 88\n');
    expect(account).not.toContain('evil');
  });

  it('sends SMS only to numbers under an allowed E.164 prefix', () => {
    expect(smsAllowed('+8613800138000', ['+86', '+1'])).toBe(true);
    expect(smsAllowed('+14155550100', ['+86', '+1'])).toBe(true);
    expect(smsAllowed('+252612345678', ['+86', '+1'])).toBe(false);
    expect(smsAllowed('+8613800138000', [])).toBe(false);
  });

  it('substitutes the customer id into the payment link, URL-encoded', () => {
    expect(paymentLinkFor('https://pay.example.com/c/{customerId}?r={customerId}', '88')).toBe(
      'https://pay.example.com/c/88?r=88',
    );
    expect(paymentLinkFor(undefined, '88')).toBeUndefined();
  });

  it('encodes a non-ASCII sender name for the From header', () => {
    const entry = {
      to: 'a@example.net',
      subject: 's',
      text: 't',
      kind: 'used-up',
      locale: 'zh-CN',
    };
    const input = sendEmailInput(
      { from: 'n@example.com', fromName: '代理商店' },
      entry as OutboxEntry,
    );
    expect(input.FromEmailAddress).toBe(
      `=?UTF-8?B?${Buffer.from('代理商店').toString('base64')}?= <n@example.com>`,
    );
    expect(input.EmailTags).toEqual([
      { Name: 'flowpilot-notice', Value: 'used-up' },
      { Name: 'locale', Value: 'zh-CN' },
    ]);
  });
});

describe('contact confirmation tokens', () => {
  const KEY = 'portal-secret-for-tests-0123456789abcdef';
  const at = new Date('2026-12-01T00:00:00Z');

  it('names the customer and the address without carrying the address, for 14 days', () => {
    const token = signConfirmToken(KEY, '88', 'ada@example.net', at);
    expect(token).toMatch(/^88\.\d+\.[\w-]{22}\.[\w-]{43}$/);
    const { customerId, names } = verifyConfirmToken(KEY, token, at);
    expect(customerId).toBe('88');
    expect(names('ada@example.net')).toBe(true);
    expect(names('bob@example.net')).toBe(false);
    const lastSecond = new Date(at.getTime() + CONFIRM_TOKEN_DAYS * 86_400_000);
    expect(verifyConfirmToken(KEY, token, lastSecond).customerId).toBe('88');
    expect(() => verifyConfirmToken(KEY, token, new Date(lastSecond.getTime() + 1000))).toThrow(
      'This confirmation link has expired',
    );
  });

  it('refuses any change to the token and any other key', () => {
    const token = signConfirmToken(KEY, '88', 'ada@example.net', at);
    const [id, expiry, digest, sig] = token.split('.');
    const tampered = [
      `89.${expiry}.${digest}.${sig}`,
      `${id}.${Number(expiry) + 86_400}.${digest}.${sig}`,
      `${id}.${expiry}.${'A'.repeat(22)}.${sig}`,
      `${id}.${expiry}.${digest}.${'A'.repeat(43)}`,
      `088.${expiry}.${digest}.${sig}`,
    ];
    for (const t of tampered) {
      expect(() => verifyConfirmToken(KEY, t, at)).toThrow('This confirmation link is not valid.');
    }
    expect(() => verifyConfirmToken('x'.repeat(40), token, at)).toThrow('not valid');
  });
});

describe('configuration and environment', () => {
  it('fills the defaults and refuses what cannot work, naming the key', () => {
    const c = parseConfig({}).customers;
    expect(c.notices).toMatchObject({
      enabled: true,
      defaultLocale: 'en',
      defaultTimeZone: 'Asia/Shanghai',
      runningLow: { gb: 5, percentOfLastTopUp: 20, daysLeft: 3 },
      sms: { enabled: true, fromHour: 8, toHour: 22 },
      smsCountries: [],
      dailyCap: { email: 10, sms: 3 },
    });
    expect(c.notices.confirmContactUrl).toBeUndefined();
    expect(c.notices.email).toBeUndefined();
    expect(c.paymentLinkUrl).toBeUndefined();
    expect(() =>
      parseConfig({
        customers: {
          paymentLinkUrl: 'ftp://x/{id}',
          notices: {
            email: { from: 'a@example.com', identity: 'other.com' },
            sms: { fromHour: 22, toHour: 8 },
            defaultTimeZone: 'Nowhere/City',
            defaultLocale: 'fr',
            smsCountries: ['86'],
            dailyCap: { sms: 0 },
            confirmContactUrl: 'https://pay.example.com/portal/confirm',
          },
        },
      }),
    ).toThrow(
      /customers\.paymentLinkUrl: must be an http\(s\) URL[\s\S]*customers\.notices\.email\.identity: must be the from address or its domain \(example\.com\), got other\.com[\s\S]*customers\.notices\.sms\.toHour: must be after fromHour[\s\S]*customers\.notices\.smsCountries\.0: must be an E\.164 prefix like \+86[\s\S]*customers\.notices\.dailyCap\.sms[\s\S]*customers\.notices\.confirmContactUrl: must contain \{token\}[\s\S]*customers\.notices\.defaultLocale[\s\S]*customers\.notices\.defaultTimeZone: must be an IANA time zone/,
    );
    expect(
      parseConfig({
        customers: {
          notices: { confirmContactUrl: 'https://pay.example.com/portal/confirm?token={token}' },
        },
      }).customers.notices.confirmContactUrl,
    ).toBe('https://pay.example.com/portal/confirm?token={token}');
  });

  it('reads the delivery mode and honours AWS_ENDPOINT_URL_SES', async () => {
    expect(noticeDelivery({})).toBe('print');
    expect(noticeDelivery({ CUSTOMER_NOTICES_DELIVERY: 'aws' })).toBe('aws');
    expect(() => noticeDelivery({ CUSTOMER_NOTICES_DELIVERY: 'ses' })).toThrow(
      'CUSTOMER_NOTICES_DELIVERY must be aws or print, got "ses"',
    );
    const client = sesClientFor({ AWS_ENDPOINT_URL_SES: 'http://127.0.0.1:4579' });
    const endpoint = await client.config.endpoint?.();
    expect(`${endpoint?.protocol}//${endpoint?.hostname}:${endpoint?.port}`).toBe(
      'http://127.0.0.1:4579',
    );
  });

  it('reads locales leniently and refuses the unknown', () => {
    expect(['zh', 'zh_CN', 'zh-Hans', 'ZH-cn'].map(normaliseLocale)).toEqual(
      Array(4).fill('zh-CN'),
    );
    expect(normaliseLocale('en-GB')).toBe('en');
    expect(() => normaliseLocale('de')).toThrow('locale must be one of en, zh-CN, got "de"');
  });
});

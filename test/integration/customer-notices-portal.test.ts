import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sesClientFor } from '../../functions/commons/clients/ses.ts';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { signConfirmToken } from '../../functions/commons/customer-notices/confirm.ts';
import { CustomerNotices } from '../../functions/commons/customer-notices/listener.ts';
import { CustomerContactStore } from '../../functions/commons/customer-notices/store/customer-contacts.ts';
import { NoticeStateStore } from '../../functions/commons/customer-notices/store/customer-notice-state.ts';
import { NoticeOutboxStore } from '../../functions/commons/customer-notices/store/notice-outbox.ts';
import { confirmLinks, noticeChannels } from '../../functions/commons/customer-notices/wiring.ts';
import type { CustomerBalance, CustomerCredit } from '../../functions/commons/customers/types.ts';
import { noticeLinks, portalUrl } from '../../functions/commons/portal/links.ts';
import { PortalStore } from '../../functions/commons/portal/store.ts';
import { portalKeys } from '../../functions/commons/portal/tokens.ts';
import { gbToMb } from '../../functions/commons/units.ts';
import { createPortalHandler } from '../../functions/portal.ts';
import { type ReceivedEmail, type SesStandIn, startSesStandIn } from '../../local/ses/stand-in.ts';
import { createTestTable, type TestTable } from '../helpers/dynamo.ts';
import {
  csrfOf,
  KEY,
  ORIGIN,
  portalDeps,
  portalEvent,
  type Result,
  sessionOf,
} from '../helpers/portal.ts';

const sns = mockClient(SNSClient);
const START = new Date('2026-12-01T02:00:00Z');
const SESSION = '__Host-fp_portal';

let ses: SesStandIn;
let table: TestTable;
let now = START;
let listener: CustomerNotices;
let contacts: CustomerContactStore;
let outbox: NoticeOutboxStore;
const last = new Map<string, CustomerBalance>();

beforeAll(async () => {
  ses = await startSesStandIn({ verifiedIdentities: ['notices.example.com'] });
  table = await createTestTable('notices-portal');
  contacts = new CustomerContactStore(table.doc, table.tableName);
  outbox = new NoticeOutboxStore(table.doc, table.tableName);
  const customers = parseConfig({
    customers: {
      notices: {
        email: { from: 'traffic@notices.example.com' },
        defaultTimeZone: 'Asia/Shanghai',
        smsCountries: ['+86'],
      },
    },
  }).customers;
  sns.on(PublishCommand).resolves({ MessageId: 'sms-1' });
  listener = new CustomerNotices({
    config: customers.notices,
    contacts,
    state: new NoticeStateStore(table.doc, table.tableName),
    outbox,
    clock: () => now,
    confirmLink: confirmLinks(portalUrl(ORIGIN, 'confirm?token={token}'), { PORTAL_SECRET: KEY }),
    links: noticeLinks({
      store: new PortalStore(table.doc, table.tableName),
      keys: async () => portalKeys(KEY),
      baseUrl: ORIGIN,
      days: 30,
    }),
    ...noticeChannels(customers, 'aws', {
      ses: sesClientFor({ AWS_ENDPOINT_URL_SES: ses.url }),
      sns: new SNSClient({ region: 'us-east-1' }),
    }),
  });
}, 60_000);

afterAll(async () => {
  await ses.close();
  table?.client.destroy();
});

afterEach(() => {
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'sms-1' });
  ses.reset();
  now = START;
});

/** One balance computation for the customer, the previous one as `before`. */
async function poll(customerId: string, gb: number, credits: CustomerCredit[] = []) {
  const before = last.get(customerId);
  const after: CustomerBalance = {
    customerId,
    account: `acct${customerId}`,
    balanceMb: gbToMb(gb).toFixed(),
    burn1dMb: '1024',
    burn7dMb: '1024',
    daysLeft: null,
    lastCreditMb: credits.at(-1)?.mb ?? before?.lastCreditMb ?? null,
    lastCreditAt: credits.at(-1)?.at ?? before?.lastCreditAt ?? null,
    asOf: now.toISOString(),
  };
  last.set(customerId, after);
  return listener.run([{ before, after, credits }]);
}

const credit = (gb: number, orderId?: string): CustomerCredit => ({
  mb: gbToMb(gb).toFixed(),
  at: now.toISOString(),
  ...(orderId ? { orderId } : {}),
});

const smsSent = () => sns.commandCalls(PublishCommand).map((c) => c.args[0].input);

function page(at: () => Date = () => now) {
  const handle = createPortalHandler(() => ({
    ...portalDeps(table.doc, table.tableName, { now: at }),
    confirmations: listener,
  }));
  return async (...args: Parameters<typeof portalEvent>) =>
    (await handle(portalEvent(...args))) as Result;
}

/** Opens the customer's page from `link` on `call`: its session and CSRF token. */
async function signIn(link: string, call = page()) {
  const url = new URL(link);
  const opened = await call('GET', `${url.pathname}${url.search}`, {
    headers: { 'sec-fetch-site': 'none' },
  });
  const session = sessionOf(opened);
  if (!session) throw new Error(`link refused: ${opened.statusCode}`);
  const shown = await call('GET', '/portal/me', { cookies: { [SESSION]: session } });
  return { session, csrf: csrfOf(shown.body), body: shown.body };
}

/** A page link for the customer, as a notice would carry it. */
async function linkFor(customerId: string) {
  const links = noticeLinks({
    store: new PortalStore(table.doc, table.tableName),
    keys: async () => portalKeys(KEY),
    baseUrl: ORIGIN,
    days: 30,
  });
  return (await links(customerId, undefined, now)).page;
}

const unsubscribeUrl = (email: ReceivedEmail | undefined) =>
  new URL(/^<(https:\/\/[^>]+)>$/.exec(email?.headers['List-Unsubscribe'] ?? '')?.[1] ?? '');

describe('customer notices and the customer page', () => {
  it('reminders turned off per channel on the page stop there; receipts keep going on both', async () => {
    // Prepare
    const id = '201';
    await contacts.edit(id, { email: 'ann@example.net', phone: '+8613800138001' }, now);
    const { session, csrf } = await signIn(await linkFor(id));
    const call = page();
    await poll(id, 50);

    // Act: email reminders off, SMS on; then low.
    const saved = await call('POST', '/portal/notices', {
      cookies: { [SESSION]: session },
      form: { csrf, sms: 'on' },
    });
    await poll(id, 4);

    // Assess
    expect(saved.statusCode).toBe(303);
    expect((await contacts.get(id))?.reminders).toEqual({ email: false, sms: true });
    expect(ses.sent).toHaveLength(0);
    expect(smsSent().map((s) => s.Message)).toEqual([
      expect.stringMatching(/^Your proxy traffic is running low/),
    ]);
    const low = (await outbox.forCustomer(id)).filter((e) => e.kind === 'running-low');
    expect(low.map((e) => `${e.channel} ${e.status} ${e.reason ?? ''}`).sort()).toEqual([
      'email skipped opted out',
      'sms sent ',
    ]);

    // Act: SMS reminders off too, used up, then a top-up.
    sns.resetHistory();
    await call('POST', '/portal/notices', { cookies: { [SESSION]: session }, form: { csrf } });
    await poll(id, 0);
    const silent = { email: ses.sent.length, sms: smsSent().length };
    await poll(id, 20, [credit(20, 'order-201')]);

    // Assess: nothing for used-up; the receipt by email and SMS.
    expect(silent).toEqual({ email: 0, sms: 0 });
    expect(ses.sent.map((e) => `${e.to[0]} ${e.subject}`)).toEqual([
      'ann@example.net Top-up received: +20 GB',
    ]);
    expect(smsSent().map((s) => s.Message)).toEqual([
      expect.stringMatching(/^Top-up received: \+20 GB/),
    ]);
  });

  it('refuses a reminder change without CSRF token, cross-site, or without a session', async () => {
    // Prepare
    const id = '206';
    await contacts.edit(id, { email: 'eve@example.net' }, now);
    const { session, csrf } = await signIn(await linkFor(id));
    const call = page();
    const cookies = { [SESSION]: session };

    // Act
    const noCsrf = await call('POST', '/portal/notices', { cookies, form: {} });
    const crossSite = await call('POST', '/portal/notices', {
      cookies,
      form: { csrf },
      headers: { origin: 'https://evil.example' },
    });
    const noSession = await call('POST', '/portal/notices', { form: { csrf } });

    // Assess
    expect([noCsrf.statusCode, crossSite.statusCode, noSession.statusCode]).toEqual([
      403, 403, 403,
    ]);
    expect((await contacts.get(id))?.reminders).toEqual({ email: true, sms: true });
  });

  it('a notice to a bound address carries the page link and one-click unsubscribe: GET changes nothing, POST stops email reminders', async () => {
    // Prepare
    const id = '202';
    await contacts.edit(id, { email: 'bo@example.net', phone: '+8613800138002' }, now);
    await poll(id, 50);

    // Act
    await poll(id, 4);
    const [email] = ses.sent;
    const unsubscribe = unsubscribeUrl(email);
    const pageLink = /settings: (https:\/\/\S+)/.exec(email?.text ?? '')?.[1] ?? '';
    const call = page();
    const shown = await call('GET', `${unsubscribe.pathname}${unsubscribe.search}`);
    const afterGet = (await contacts.get(id))?.reminders;
    const done = await call('POST', `${unsubscribe.pathname}${unsubscribe.search}`, {
      form: { 'List-Unsubscribe': 'One-Click' },
      headers: { origin: '' },
    });

    // Assess
    expect(email?.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
    expect(unsubscribe.origin + unsubscribe.pathname).toBe(`${ORIGIN}/portal/unsubscribe`);
    expect(pageLink).toMatch(new RegExp(`^${ORIGIN}/portal/open\\?token=${id}\\.`));
    expect(await signIn(pageLink)).toMatchObject({ session: expect.any(String) });
    expect(smsSent()[0]?.Message).toMatch(new RegExp(`running low.* ${ORIGIN}/portal/open\\S+$`));
    expect(shown.statusCode).toBe(200);
    expect(shown.body).toContain('method="post"');
    expect(afterGet).toEqual({ email: true, sms: true });
    expect(done.statusCode).toBe(200);
    expect((await contacts.get(id))?.reminders).toEqual({ email: false, sms: true });

    // Act: the receipt of a top-up after the unsubscribe.
    ses.reset();
    await poll(id, 24, [credit(20, 'order-202')]);

    // Assess: receipts are transactional.
    expect(ses.sent.map((e) => `${e.to[0]} ${e.subject}`)).toEqual([
      'bo@example.net Top-up received: +20 GB',
    ]);
  });

  it('refuses an unsubscribe link whose token is tampered or whose address tag is missing', async () => {
    // Prepare
    const id = '207';
    await contacts.edit(id, { email: 'fay@example.net' }, now);
    await poll(id, 50);
    await poll(id, 4);
    const url = unsubscribeUrl(ses.sent[0]);
    const call = page();
    const token = url.searchParams.get('token') ?? '';
    const a = url.searchParams.get('a') ?? '';

    // Act
    const tampered = await call(
      'POST',
      `/portal/unsubscribe?token=${token.replace(/^207\./, '201.')}&a=${a}`,
    );
    const noTag = await call('POST', `/portal/unsubscribe?token=${token}`);
    const otherTag = await call('POST', `/portal/unsubscribe?token=${token}&a=${'A'.repeat(22)}`);

    // Assess: the last is a well-formed tag of no address of the customer: nothing changes.
    expect([tampered.statusCode, noTag.statusCode, otherTag.statusCode]).toEqual([403, 403, 200]);
    expect((await contacts.get(id))?.reminders).toEqual({ email: true, sms: true });
  });

  // #28 F1: the victim opens the payer's link and clicks; nothing binds unless they type it.
  it('the confirm page names a captured address and its payment; a click without typing it binds nothing', async () => {
    // Prepare
    const id = '204';
    await contacts.capture(id, { email: 'payer@example.org' }, now, 'order-204');
    const token = signConfirmToken(KEY, id, 'payer@example.org', now);
    const { session, csrf } = await signIn(await linkFor(id));
    const cookies = { [SESSION]: session };
    const call = page();

    // Act
    const shown = await call('GET', `/portal/confirm?token=${token}`, { cookies });
    const clicked = await call('POST', '/portal/confirm', { cookies, form: { csrf, token } });
    const wrong = await call('POST', '/portal/confirm', {
      cookies,
      form: { csrf, token, email: 'me@example.org' },
    });
    const kept = (await contacts.get(id))?.confirmedEmail;
    const typed = await call('POST', '/portal/confirm', {
      cookies,
      form: { csrf, token, email: 'Payer@Example.org' },
    });

    // Assess
    expect(shown.statusCode).toBe(200);
    expect(shown.body).toContain('p***@example.org');
    expect(shown.body).toContain('whoever paid order order-204 on 2026-12-01');
    expect(shown.body).toContain('name="email"');
    expect(clicked.statusCode).toBe(400);
    expect(wrong.statusCode).toBe(400);
    expect(kept).toBeUndefined();
    expect(typed.statusCode).toBe(200);
    expect((await contacts.get(id))?.confirmedEmail).toBe('payer@example.org');
  });

  it('a receipt to a payment-captured address carries no page link, and its unsubscribe changes nothing for the customer', async () => {
    // Prepare: nothing bound; a payer names their own address for customer 203.
    const id = '203';
    await contacts.capture(id, { email: 'payer@example.org' }, now, 'order-203');
    await poll(id, 5);

    // Act
    await poll(id, 25, [credit(20, 'order-203')]);
    const [receipt] = ses.sent;
    const url = unsubscribeUrl(receipt);
    const done = await page()('POST', `${url.pathname}${url.search}`, {
      form: { 'List-Unsubscribe': 'One-Click' },
    });

    // Assess
    expect(receipt?.to).toEqual(['payer@example.org']);
    expect(receipt?.text).not.toContain('/portal/open');
    expect(receipt?.text).not.toContain('acct203');
    expect(done.statusCode).toBe(200);
    expect((await contacts.get(id))?.reminders).toEqual({ email: true, sms: true });
  });

  describe('change of email', () => {
    it("uses the new address only once confirmed by the link sent to it, on the customer's own session", async () => {
      // Prepare
      const id = '204';
      await contacts.edit(id, { email: 'old@example.net' }, now);
      const { session, csrf } = await signIn(await linkFor(id));
      const call = page();
      const cookies = { [SESSION]: session };

      // Act: ask for a new address.
      const asked = await call('POST', '/portal/email', {
        cookies,
        form: { csrf, email: 'new@example.org' },
      });
      const [sent] = ses.sent;
      const link = new URL(
        /(https:\/\/\S+\/portal\/confirm\?token=\S+)/.exec(sent?.text ?? '')?.[1] ?? '',
      );
      const pending = await contacts.get(id);
      const shownPage = await call('GET', '/portal/me', { cookies });
      await poll(id, 50);
      await poll(id, 4);
      const lowTo = ses.sent.slice(1).map((e) => e.to[0]);
      const confirmShown = await call('GET', `${link.pathname}${link.search}`, { cookies });
      const afterGet = (await contacts.get(id))?.email;
      const token = link.searchParams.get('token') ?? '';
      const sentBefore = ses.sent.length;
      const confirmed = await call('POST', '/portal/confirm', { cookies, form: { csrf, token } });
      const told = ses.sent.slice(sentBefore);
      const replayed = await call('POST', '/portal/confirm', { cookies, form: { csrf, token } });

      // Assess
      expect(asked.statusCode).toBe(303);
      expect(asked.headers.location).toBe('/portal/me?m=sent');
      expect(sent?.to).toEqual(['new@example.org']);
      expect(sent?.subject).toBe('Confirm your email address');
      expect(link.origin + link.pathname).toBe(`${ORIGIN}/portal/confirm`);
      expect(pending).toMatchObject({ email: 'old@example.net', pendingEmail: 'new@example.org' });
      expect(shownPage.body).toContain('Waiting for confirmation: n***@example.org');
      expect(lowTo).toEqual(['old@example.net']);
      expect(confirmShown.statusCode).toBe(200);
      expect(confirmShown.body).toContain('<form method="post" action="/portal/confirm">');
      expect(afterGet).toBe('old@example.net');
      expect(confirmed.statusCode).toBe(200);
      expect(confirmed.body).toContain('notices now go to n***@example.org');
      // The address that had the notices hears where they go now, naming it masked.
      expect(told.map((e) => e.to[0])).toEqual(['old@example.net']);
      expect(told[0]?.subject).toBe('Your notices go to another address now');
      expect(told[0]?.text).toContain('now go to n***@example.org');
      expect(await contacts.get(id)).toMatchObject({ email: 'new@example.org' });
      expect((await contacts.get(id))?.pendingEmail).toBeUndefined();
      expect(replayed.statusCode).toBe(200);
    });

    it("refuses a confirmation with another customer's session or token, cross-site, without CSRF or session, expired, or replayed after a later change", async () => {
      // Prepare: 208 asks for a new address; 209 is another customer with a page of their own.
      const id = '208';
      await contacts.edit(id, { email: 'gus@example.net' }, now);
      await contacts.edit('209', { email: 'hal@example.net' }, now);
      const mine = await signIn(await linkFor(id));
      const other = await signIn(await linkFor('209'));
      const call = page();
      const cookies = { [SESSION]: mine.session };
      await call('POST', '/portal/email', {
        cookies,
        form: { csrf: mine.csrf, email: 'gus2@example.org' },
      });
      const token = /confirm\?token=(\S+)/.exec(ses.sent[0]?.text ?? '')?.[1] ?? '';
      await call('POST', '/portal/email', {
        cookies: { [SESSION]: other.session },
        form: { csrf: other.csrf, email: 'hal2@example.org' },
      });
      const otherToken = /confirm\?token=(\S+)/.exec(ses.sent[1]?.text ?? '')?.[1] ?? '';
      const later = page(() => new Date(now.getTime() + 15 * 86_400_000));

      // Act
      const refusals = {
        otherSession: await call('POST', '/portal/confirm', {
          cookies: { [SESSION]: other.session },
          form: { csrf: other.csrf, token },
        }),
        otherToken: await call('POST', '/portal/confirm', {
          cookies,
          form: { csrf: mine.csrf, token: otherToken },
        }),
        crossSite: await call('POST', '/portal/confirm', {
          cookies,
          form: { csrf: mine.csrf, token },
          headers: { origin: 'https://evil.example' },
        }),
        noCsrf: await call('POST', '/portal/confirm', { cookies, form: { token } }),
        noSession: await call('POST', '/portal/confirm', { form: { csrf: mine.csrf, token } }),
        noSessionGet: await call('GET', `/portal/confirm?token=${token}`),
        otherTokenGet: await call('GET', `/portal/confirm?token=${otherToken}`, { cookies }),
        tamperedGet: await call('GET', `/portal/confirm?token=${token.slice(0, -2)}AA`, {
          cookies,
        }),
        overlongGet: await call('GET', `/portal/confirm?token=${token}${'A'.repeat(200)}`, {
          cookies,
        }),
        tampered: await call('POST', '/portal/confirm', {
          cookies,
          form: { csrf: mine.csrf, token: `${token.slice(0, -2)}AA` },
        }),
      };
      const late = await signIn(await linkFor(id), later);
      const expired = await later('POST', '/portal/confirm', {
        cookies: { [SESSION]: late.session },
        form: { csrf: late.csrf, token },
      });
      const unchanged = await contacts.get(id);
      // A later change, confirmed; then the first link again.
      ses.reset();
      await call('POST', '/portal/email', {
        cookies,
        form: { csrf: mine.csrf, email: 'gus3@example.org' },
      });
      const third = /confirm\?token=(\S+)/.exec(ses.sent[0]?.text ?? '')?.[1] ?? '';
      await call('POST', '/portal/confirm', { cookies, form: { csrf: mine.csrf, token: third } });
      const replay = await call('POST', '/portal/confirm', {
        cookies,
        form: { csrf: mine.csrf, token },
      });

      // Assess
      expect(
        Object.fromEntries(Object.entries(refusals).map(([k, r]) => [k, r.statusCode])),
      ).toEqual({
        otherSession: 403,
        otherToken: 403,
        crossSite: 403,
        noCsrf: 403,
        noSession: 403,
        noSessionGet: 403,
        otherTokenGet: 403,
        tamperedGet: 403,
        overlongGet: 403,
        tampered: 403,
      });
      expect(expired.statusCode).toBe(410);
      expect(unchanged).toMatchObject({
        email: 'gus@example.net',
        pendingEmail: 'gus2@example.org',
      });
      expect((await contacts.get('209'))?.email).toBe('hal@example.net');
      expect(replay.statusCode).toBe(410);
      expect((await contacts.get(id))?.email).toBe('gus3@example.org');
    });

    it('refuses an address that is not one, and a change without a session', async () => {
      // Prepare
      const id = '210';
      await contacts.edit(id, { email: 'ida@example.net' }, now);
      const { session, csrf } = await signIn(await linkFor(id));
      const call = page();

      // Act
      const bad = await call('POST', '/portal/email', {
        cookies: { [SESSION]: session },
        form: { csrf, email: 'not an address' },
      });
      const noSession = await call('POST', '/portal/email', {
        form: { csrf, email: 'x@example.org' },
      });

      // Assess
      expect(bad.statusCode).toBe(400);
      expect(noSession.statusCode).toBe(403);
      expect(ses.sent).toHaveLength(0);
      expect((await contacts.get(id))?.pendingEmail).toBeUndefined();
    });
  });
});

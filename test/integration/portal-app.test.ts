import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { setAutoTopup } from '../../functions/commons/autotopup/settings.ts';
import { AutoTopupStore } from '../../functions/commons/autotopup/store/autotopup.ts';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { CustomerContactStore } from '../../functions/commons/customer-notices/store/customer-contacts.ts';
import { CustomerBalanceStore } from '../../functions/commons/customers/store/customer-balances.ts';
import { UsageStore } from '../../functions/commons/pollers/store/usage.ts';
import { unsubscribeHeaders } from '../../functions/commons/portal/links.ts';
import { PortalStore } from '../../functions/commons/portal/store.ts';
import { portalKeys, signToken } from '../../functions/commons/portal/tokens.ts';
import { addDays, Decimal, dayInZone } from '../../functions/commons/units.ts';
import { createPortalHandler } from '../../functions/portal.ts';
import { createTestTable, type TestTable } from '../helpers/dynamo.ts';
import {
  counting,
  csrfOf,
  KEY,
  OLD_KEY,
  ORIGIN,
  portalDeps,
  portalEvent,
  type Result,
  seedCustomer,
  sessionOf,
} from '../helpers/portal.ts';

const NOW = new Date('2026-11-20T04:00:00.000Z');
const A = '1001';
const B = '1002';
const DAY = 86_400;
const epoch = Math.floor(NOW.getTime() / 1000);

let table: TestTable;
let handle: ReturnType<typeof createPortalHandler>;
let requests: ReturnType<typeof counting>;

function linkToken(
  customerId: string,
  opts: { version?: number; expires?: number; key?: string } = {},
) {
  return signToken(portalKeys(opts.key ?? KEY), 'link', {
    customerId,
    version: opts.version ?? 0,
    expires: opts.expires ?? epoch + 3 * DAY,
  });
}

async function call(...args: Parameters<typeof portalEvent>): Promise<Result> {
  return (await handle(portalEvent(...args))) as Result;
}

/** Opens `customerId`'s link and returns the session cookie and the page's CSRF token. */
async function signIn(customerId: string) {
  const opened = await call('GET', `/portal/open?token=${linkToken(customerId)}`, {
    headers: { 'sec-fetch-site': 'none' },
  });
  const session = sessionOf(opened);
  if (!session) throw new Error(`no session for ${customerId}: ${opened.statusCode}`);
  const page = await call('GET', '/portal/me', { cookies: { '__Host-fp_portal': session } });
  return { session, csrf: csrfOf(page.body), page };
}

beforeAll(async () => {
  table = await createTestTable('portal');
  await seedCustomer(table.doc, table.tableName, {
    customerId: A,
    account: 'alice@example.com',
    openingGb: 100,
    dailyMb: 2048,
    days: 40,
    now: NOW,
  });
  await seedCustomer(table.doc, table.tableName, {
    customerId: B,
    account: 'bob<script>alert(1)</script>@example.com',
    openingGb: 777,
    dailyMb: 4096,
    days: 40,
    now: NOW,
  });
  await new CustomerContactStore(table.doc, table.tableName).edit(
    A,
    { email: 'alice@example.com', notices: false },
    NOW,
  );
}, 60_000);

afterAll(() => table?.client.destroy());

beforeEach(() => {
  requests = counting(table.doc);
  handle = createPortalHandler(() => portalDeps(requests.doc, table.tableName, { now: () => NOW }));
});

describe('portal: signed links', () => {
  it('opens a session from a valid link and sends the browser on without the token', async () => {
    // Act
    const res = await call('GET', `/portal/open?token=${linkToken(A)}`, {
      headers: { 'sec-fetch-site': 'none' },
    });

    // Assess
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/portal/me');
    // __Host-: only this origin over https can set it (no Domain, Path=/, Secure).
    const cookie = (res.cookies ?? []).find((c) => c.startsWith('__Host-fp_portal='));
    expect(cookie).toMatch(/; Path=\/; Max-Age=28800; HttpOnly; SameSite=Lax; Secure$/);
    expect(res.headers['referrer-policy']).toBe('no-referrer');
  });

  it.each([
    ['tampered signature', () => `${linkToken(A).slice(0, -2)}AA`],
    ['customer id swapped', () => linkToken(A).replace(/^1001\./, `${B}.`)],
    ['expired', () => linkToken(A, { expires: epoch - 1 })],
    ['signed with an unknown key', () => linkToken(A, { key: 'x'.repeat(40) })],
    [
      'a session token used as a link',
      () =>
        signToken(portalKeys(KEY), 'session', { customerId: A, version: 0, expires: epoch + DAY }),
    ],
    ['garbage', () => '<script>'],
  ])('refuses a link that is %s with a 403 page that says nothing more', async (_, token) => {
    // Act
    const res = await call('GET', `/portal/open?token=${encodeURIComponent(token())}`, {
      headers: { 'sec-fetch-site': 'none' },
    });

    // Assess
    expect(res.statusCode).toBe(403);
    expect(res.cookies ?? []).toEqual([]);
    expect(res.body).toContain('This link cannot be used');
    expect(res.body).not.toMatch(/expired|signature|revoked|1001|1002/i);
  });

  it('accepts the previous key while both are configured, and not after', async () => {
    // Prepare
    const old = linkToken(A, { key: OLD_KEY });
    const during = createPortalHandler(() =>
      portalDeps(table.doc, table.tableName, {
        now: () => NOW,
        keys: portalKeys(`${KEY} ${OLD_KEY}`),
      }),
    );

    // Act
    const accepted = (await during(
      portalEvent('GET', `/portal/open?token=${old}`, { headers: { 'sec-fetch-site': 'none' } }),
    )) as Result;
    const after = await call('GET', `/portal/open?token=${old}`, {
      headers: { 'sec-fetch-site': 'none' },
    });

    // Assess
    expect(accepted.statusCode).toBe(303);
    expect(after.statusCode).toBe(403);
  });

  it('revocation ends earlier links and open sessions, and a new link works', async () => {
    // Prepare
    const customer = '1003';
    const before = linkToken(customer);
    const opened = await call('GET', `/portal/open?token=${before}`, {
      headers: { 'sec-fetch-site': 'none' },
    });
    const session = sessionOf(opened) ?? '';

    // Act
    const version = await new PortalStore(table.doc, table.tableName).revoke(customer, NOW);
    const oldLink = await call('GET', `/portal/open?token=${before}`, {
      headers: { 'sec-fetch-site': 'none' },
    });
    const oldSession = await call('GET', '/portal/me', {
      cookies: { '__Host-fp_portal': session },
    });
    const fresh = await call('GET', `/portal/open?token=${linkToken(customer, { version })}`, {
      headers: { 'sec-fetch-site': 'none' },
    });

    // Assess
    expect(opened.statusCode).toBe(303);
    expect(oldLink.statusCode).toBe(403);
    expect(oldSession.statusCode).toBe(403);
    expect(fresh.statusCode).toBe(303);
  });
});

describe('portal: opening a link never logs in silently across sites or sessions', () => {
  it('a link opened from another site shows a button; its same-origin POST logs in', async () => {
    // Prepare
    const token = linkToken(A);

    // Act
    const shown = await call('GET', `/portal/open?token=${token}`, {
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    const crossPost = await call('POST', '/portal/open', {
      form: { token },
      headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    });
    const confirmed = await call('POST', '/portal/open', { form: { token } });

    // Assess
    expect(shown.statusCode).toBe(200);
    expect(shown.cookies ?? []).toEqual([]);
    expect(shown.body).toContain(`Open customer ${A}&#39;s page`);
    expect(shown.body).toMatch(/<form method="post" action="\/portal\/open">/);
    expect(crossPost.statusCode).toBe(403);
    expect(sessionOf(crossPost)).toBeUndefined();
    expect(confirmed.statusCode).toBe(303);
    expect(confirmed.headers.location).toBe('/portal/me');
    expect(sessionOf(confirmed)).toBeDefined();
  });

  it('a link typed or clicked in a mail client (Sec-Fetch-Site: none) logs in at once', async () => {
    // Act
    const res = await call('GET', `/portal/open?token=${linkToken(A)}`, {
      headers: { 'sec-fetch-site': 'none' },
    });

    // Assess
    expect(res.statusCode).toBe(303);
    expect(sessionOf(res)).toBeDefined();
  });

  // #28 F4: a request without the header may come from any site (an older browser, a script).
  it('a link opened without Sec-Fetch-Site asks first, naming the account in a form a person knows', async () => {
    // Act
    const res = await call('GET', `/portal/open?token=${linkToken(A)}`, {
      sourceIp: '203.0.113.8',
    });
    const zh = await call('GET', `/portal/open?token=${linkToken(A)}`, {
      headers: { 'accept-language': 'zh-CN' },
      sourceIp: '203.0.113.8',
    });

    // Assess
    expect(res.statusCode).toBe(200);
    expect(sessionOf(res)).toBeUndefined();
    expect(res.body).toContain('Account: a***@example.com');
    expect(res.body).not.toContain('alice@example.com');
    expect(res.body).toMatch(/<form method="post" action="\/portal\/open">/);
    expect(zh.body).toContain('账户：a***@example.com');
  });

  it("never replaces another customer's session silently", async () => {
    // Prepare
    const { session } = await signIn(B);

    // Act
    const res = await call('GET', `/portal/open?token=${linkToken(A)}`, {
      cookies: { '__Host-fp_portal': session },
      headers: { 'sec-fetch-site': 'none' },
    });
    const same = await call('GET', `/portal/open?token=${linkToken(B)}`, {
      cookies: { '__Host-fp_portal': session },
      headers: { 'sec-fetch-site': 'none' },
    });

    // Assess
    expect(res.statusCode).toBe(200);
    expect(sessionOf(res)).toBeUndefined();
    expect(res.body).toContain(`Open customer ${A}&#39;s page`);
    expect(same.statusCode).toBe(303);
  });
});

describe('portal: sign out (#28 F2)', () => {
  it('ends every session of the customer opened before it; links still open a new one', async () => {
    // Prepare: a customer of its own, so the sign-out stamp touches no other test.
    const id = '1009';
    const later = new Date(NOW.getTime() + 60_000);
    const at = (when: Date) =>
      createPortalHandler(() => portalDeps(table.doc, table.tableName, { now: () => when }));
    // Its own source address: these requests count against no other test's limit.
    const callAt = async (when: Date, ...[method, path, opts]: Parameters<typeof portalEvent>) =>
      (await at(when)(portalEvent(method, path, { ...opts, sourceIp: '203.0.113.9' }))) as Result;
    const open = async (customerId: string) => {
      const opened = await callAt(NOW, 'GET', `/portal/open?token=${linkToken(customerId)}`, {
        headers: { 'sec-fetch-site': 'none' },
      });
      const session = sessionOf(opened) ?? '';
      const page = await callAt(NOW, 'GET', '/portal/me', {
        cookies: { '__Host-fp_portal': session },
      });
      return { session, csrf: csrfOf(page.body) };
    };
    const phone = await open(id);
    const laptop = await open(id);

    // Act
    const out = await callAt(later, 'POST', '/portal/logout', {
      cookies: { '__Host-fp_portal': laptop.session },
      form: { csrf: laptop.csrf },
    });
    const oldLaptop = await callAt(later, 'GET', '/portal/me', {
      cookies: { '__Host-fp_portal': laptop.session },
    });
    const oldPhone = await callAt(later, 'POST', '/portal/zone', {
      cookies: { '__Host-fp_portal': phone.session },
      form: { csrf: phone.csrf, zone: 'UTC' },
    });
    const reopened = await callAt(
      new Date(later.getTime() + 1000),
      'GET',
      `/portal/open?token=${linkToken(id)}`,
      { headers: { 'sec-fetch-site': 'none' } },
    );
    const fresh = await callAt(new Date(later.getTime() + 2000), 'GET', '/portal/me', {
      cookies: { '__Host-fp_portal': sessionOf(reopened) ?? '' },
    });
    const other = await callAt(later, 'GET', '/portal/me', {
      cookies: { '__Host-fp_portal': (await open(B)).session },
    });

    // Assess
    expect(out.statusCode).toBe(200);
    expect(oldLaptop.statusCode).toBe(403);
    expect(oldPhone.statusCode).toBe(403);
    expect(reopened.statusCode).toBe(303);
    expect(fresh.statusCode).toBe(200);
    expect(other.statusCode).toBe(200);
  });
});

describe('portal: the session cookie', () => {
  it('keeps the plain name where the page is plain http (the local runtime)', async () => {
    // Prepare
    const local = createPortalHandler(() =>
      portalDeps(table.doc, table.tableName, { now: () => NOW, secure: false }),
    );

    // Act
    const res = (await local(
      portalEvent('GET', `/portal/open?token=${linkToken(A)}`, {
        headers: { 'sec-fetch-site': 'none' },
      }),
    )) as Result;

    // Assess
    expect(res.cookies?.[0]).toMatch(
      /^fp_portal=.+; Path=\/portal; Max-Age=28800; HttpOnly; SameSite=Lax$/,
    );
  });

  it('refuses a request carrying the session cookie twice rather than take either', async () => {
    // Prepare
    const { session } = await signIn(A);
    const twice = (method: string, path: string) => {
      const event = portalEvent(method, path, { headers: { 'sec-fetch-site': 'none' } });
      event.cookies = [`__Host-fp_portal=${session}`, `__Host-fp_portal=${session}x`];
      return handle(event) as Promise<Result>;
    };

    // Act
    const page = await twice('GET', '/portal/me');
    const open = await twice('GET', `/portal/open?token=${linkToken(A)}`);

    // Assess
    expect(page.statusCode).toBe(403);
    expect(open.statusCode).toBe(200);
    expect(sessionOf(open)).toBeUndefined();
  });
});

describe("portal: no customer sees or changes another's data", () => {
  it("shows the session's customer only", async () => {
    // Act
    const { page } = await signIn(A);

    // Assess
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('alice@example.com');
    expect(page.body).toContain('data-balance-gb="60"');
    expect(page.body).not.toContain('bob');
    expect(page.body).not.toContain('777');
  });

  it('refuses a session cookie forged for another customer', async () => {
    // Prepare
    const { session } = await signIn(A);
    const forged = session.replace(/^1001\./, `${B}.`);

    // Act
    const res = await call('GET', '/portal/me', { cookies: { '__Host-fp_portal': forged } });

    // Assess
    expect(res.statusCode).toBe(403);
    expect(res.body).not.toContain('bob');
  });

  const posts = ['/portal/zone', '/portal/logout', '/portal/buy', '/portal/autotopup'];

  it.each(['/portal/me', ...posts])('%s without a session: 403', async (path) => {
    const method = path === '/portal/me' ? 'GET' : 'POST';
    const res = await call(method, path, { form: { csrf: 'x', zone: 'UTC' } });
    expect(res.statusCode).toBe(403);
  });

  it.each(posts)("%s with another customer's CSRF token: 403", async (path) => {
    // Prepare
    const a = await signIn(A);
    const b = await signIn(B);

    // Act
    const res = await call('POST', path, {
      cookies: { '__Host-fp_portal': a.session },
      form: { csrf: b.csrf, zone: 'Europe/Berlin', package: 'x' },
    });

    // Assess
    expect(res.statusCode).toBe(403);
    expect((await new PortalStore(table.doc, table.tableName).get(A)).timeZone).toBeUndefined();
  });

  it.each(posts)('%s from another site (Origin) or without any origin: 403', async (path) => {
    // Prepare
    const a = await signIn(A);
    const form = { csrf: a.csrf, zone: 'Europe/Berlin' };

    // Act
    const crossSite = await call('POST', path, {
      cookies: { '__Host-fp_portal': a.session },
      headers: { origin: 'https://evil.example' },
      form,
    });
    const noOrigin = await call('POST', path, {
      cookies: { '__Host-fp_portal': a.session },
      headers: { origin: '' },
      form,
    });

    // Assess
    expect(crossSite.statusCode).toBe(403);
    expect(noOrigin.statusCode).toBe(403);
  });

  it("changes the session's customer's time zone only, and shows times in it", async () => {
    // Prepare
    const customer = '1004';
    await seedCustomer(table.doc, table.tableName, {
      customerId: customer,
      account: 'zoe@example.com',
      openingGb: 10,
      dailyMb: 100,
      days: 12,
      now: NOW,
    });
    const a = await signIn(customer);

    // Act
    const res = await call('POST', '/portal/zone', {
      cookies: { '__Host-fp_portal': a.session },
      form: { csrf: a.csrf, zone: 'America/New_York' },
    });
    const page = await call('GET', '/portal/me', { cookies: { '__Host-fp_portal': a.session } });

    // Assess
    expect(res.statusCode).toBe(303);
    const store = new PortalStore(table.doc, table.tableName);
    expect((await store.get(customer)).timeZone).toBe('America/New_York');
    expect((await store.get(A)).timeZone).toBeUndefined();
    // The first record, 10:00 in Shanghai (02:00 UTC), is 21:00 the day before in New York.
    expect(page.body).toContain('<option value="America/New_York" selected>');
    expect(page.body).toMatch(/Nov 7, 2026, 9:00\s?PM/);
  });
});

describe('portal: the page', () => {
  it('shows balance, days left, 30 days of usage, history, notices', async () => {
    // Act
    const { page } = await signIn(A);

    // Assess
    expect(page.body).toContain('60 GB');
    expect(page.body).toContain('30.0 days at your current use');
    expect(page.body.match(/<rect class="bar"/g)).toHaveLength(30);
    expect(page.body).toContain('data-gb="2"');
    expect(page.body.match(/<tr><td>/g)).toHaveLength(4);
    expect(page.body).toContain('+10 GB');
    expect(page.body).toContain('<input type="checkbox" name="email" value="on"> Email reminders');
    expect(page.body).toContain('a***@example.com');
    expect(page.body).not.toContain('alice@example.com</');
  });

  it('sets strict headers: a CSP without scripts, no framing, no referrer, nosniff', async () => {
    // Act
    const { page } = await signIn(A);

    // Assess
    const csp = page.headers['content-security-policy'] ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/script-src|unsafe-inline/);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.body).not.toMatch(/<script|\son[a-z]+=/i);
  });

  it('escapes what the store holds (an account name with markup)', async () => {
    // Act
    const { page } = await signIn(B);

    // Assess
    expect(page.body).not.toContain('<script>alert(1)</script>');
    expect(page.body).toContain('bob&#60;script&#62;alert(1)&#60;/script&#62;@example.com');
  });

  it('speaks Simplified Chinese from Accept-Language, and switches by link', async () => {
    // Prepare
    const { session } = await signIn(A);

    // Act
    const zh = await call('GET', '/portal/me', {
      cookies: { '__Host-fp_portal': session },
      headers: { 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.8' },
    });
    const switched = await call('GET', '/portal/lang/en');
    const back = await call('GET', '/portal/me', {
      cookies: { '__Host-fp_portal': session, fp_lang: 'en' },
      headers: { 'accept-language': 'zh-CN' },
    });

    // Assess
    expect(zh.body).toContain('<html lang="zh-CN">');
    expect(zh.body).toContain('余额');
    expect(zh.body).toContain('按当前用量约 30.0 天');
    expect(switched.statusCode).toBe(303);
    expect(switched.cookies?.[0]).toMatch(/^fp_lang=en; Path=\/portal;/);
    expect(back.body).toContain('<html lang="en">');
  });

  it('shows a balance negative only for want of an opening as "not available yet"', async () => {
    // Prepare
    await seedCustomer(table.doc, table.tableName, {
      customerId: '1005',
      account: 'new@example.com',
      openingGb: 0,
      dailyMb: 1024,
      days: 20,
      now: NOW,
      calibrated: false,
    });

    // Act
    const { page } = await signIn('1005');

    // Assess
    expect(page.body).toContain(
      '<p class="big" data-balance="not-calibrated">Balance not available yet</p>',
    );
    expect(page.body).not.toMatch(/−?-\d+(\.\d+)? GB/);
  });

  it('costs at most 8 DynamoDB requests per view with 400 days of history', async () => {
    // Prepare
    await seedCustomer(table.doc, table.tableName, {
      customerId: '1400',
      account: 'long@example.com',
      openingGb: 5000,
      dailyMb: 1000,
      days: 400,
      now: NOW,
    });
    const { session } = await signIn('1400');
    requests.reset();

    // Act
    const page = await call('GET', '/portal/me', { cookies: { '__Host-fp_portal': session } });

    // Assess
    expect(page.statusCode).toBe(200);
    // Records every 10 days over 400 days: the 36 of the last 366 days.
    expect(page.body.match(/<tr><td>/g)?.length).toBe(36);
    // The usage store's finished-days marker rides in its BatchGet of the open days' parts:
    // 8 requests whatever the history's length.
    expect(requests.count()).toBeLessThanOrEqual(8);
  });

  it('answers 429 past the per-address limit and past the per-customer limit', async () => {
    // Prepare
    const limited = createPortalHandler(() =>
      portalDeps(table.doc, table.tableName, {
        now: () => new Date(NOW.getTime() + 3_600_000),
        config: { portal: { rateLimit: { perCustomerPerMinute: 5, perAddressPerMinute: 8 } } },
      }),
    );
    const token = linkToken(A, { expires: epoch + 2 * DAY });
    const opened = (await limited(
      portalEvent('GET', `/portal/open?token=${token}`, {
        sourceIp: '203.0.113.1',
        headers: { 'sec-fetch-site': 'none' },
      }),
    )) as Result;
    const session = sessionOf(opened) ?? '';

    // Act: the customer from many addresses, then one address for many customers.
    const byCustomer: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = (await limited(
        portalEvent('GET', '/portal/me', {
          cookies: { '__Host-fp_portal': session },
          sourceIp: `203.0.113.${10 + i}`,
        }),
      )) as Result;
      byCustomer.push(r.statusCode);
    }
    const byAddress: number[] = [];
    for (let i = 0; i < 9; i++) {
      const r = (await limited(
        portalEvent('GET', '/portal/lang/en', { sourceIp: '203.0.113.99' }),
      )) as Result;
      byAddress.push(r.statusCode);
    }

    // Assess
    expect(byCustomer).toEqual([200, 200, 200, 200, 200, 429]);
    expect(byAddress).toEqual([303, 303, 303, 303, 303, 303, 303, 303, 429]);
  });

  it('answers 404 for unknown paths and never a stack trace for a broken secret', async () => {
    // Prepare
    const broken = createPortalHandler(() =>
      portalDeps(table.doc, table.tableName, {
        now: () => NOW,
        keys: undefined,
      }),
    );
    const noKey = createPortalHandler(() => ({
      ...portalDeps(table.doc, table.tableName, { now: () => NOW }),
      keys: async () => portalKeys(undefined),
    }));

    // Act
    const missing = (await broken(portalEvent('GET', '/portal/nothing'))) as Result;
    const failing = (await noKey(
      portalEvent('GET', `/portal/open?token=${linkToken(A)}`, {
        headers: { 'sec-fetch-site': 'none' },
      }),
    )) as Result;

    // Assess
    expect(missing.statusCode).toBe(404);
    expect(failing.statusCode).toBe(500);
    expect(failing.body).not.toMatch(/PORTAL_SECRET|ConfigError|at /);
  });

  it('names in Allow the methods each known path serves', async () => {
    // Prepare
    const { session } = await signIn(A);
    const cookies = { '__Host-fp_portal': session };

    // Act
    const confirm = await call('PUT', '/portal/confirm', { cookies });
    const logout = await call('GET', '/portal/logout', { cookies });
    const page = await call('DELETE', '/portal/me', { cookies });

    // Assess
    expect([confirm.statusCode, logout.statusCode, page.statusCode]).toEqual([405, 405, 405]);
    expect(confirm.headers.allow).toBe('GET, POST');
    expect(logout.headers.allow).toBe('POST');
    expect(page.headers.allow).toBe('GET');
  });
});

describe('portal: the page as poll-usage leaves the usage store', () => {
  let own: TestTable;
  beforeAll(async () => {
    own = await createTestTable('portal-open-days');
  });
  afterAll(() => own?.client.destroy());

  it('draws the open days from the balance and still costs at most 8 requests', async () => {
    // Prepare: days finished up to 3 days ago (per customer rows and the marker); the last
    // three days open, their figures in the day parts only; the balance counted them all.
    const today = dayInZone(NOW, 'Asia/Shanghai');
    const usage = new UsageStore(own.doc, own.tableName, { retentionDays: 800 });
    const days = Array.from({ length: 10 }, (_, i) => addDays(today, i - 9));
    const mbOn = (day: string) => new Decimal(1000 + days.indexOf(day) * 100);
    await usage.finish([addDays(today, -10)], NOW);
    await usage.put(
      days.map((day) => ({
        customerId: '1500',
        day,
        userName: 'open@example.com',
        uploadMb: new Decimal(0),
        downloadMb: mbOn(day),
      })),
      NOW,
    );
    await usage.finish(days.slice(0, 7), NOW);
    await new CustomerBalanceStore(own.doc, own.tableName).write(
      [
        {
          state: {
            customerId: '1500',
            account: 'open@example.com',
            opening: {
              mb: new Decimal(100_000),
              at: `${days[0]}T00:00:00.000Z`,
              day: addDays(today, -10),
              dayBaseMb: new Decimal(0),
            },
            creditsMb: new Decimal(0),
            deductionsMb: new Decimal(0),
            settledMb: new Decimal(0),
            recent: new Map(days.map((d) => [d, mbOn(d)])),
          },
          version: undefined,
        },
      ],
      NOW,
    );
    const counted = counting(own.doc);
    const handler = createPortalHandler(() =>
      portalDeps(counted.doc, own.tableName, { now: () => NOW }),
    );
    const opened = (await handler(
      portalEvent('GET', `/portal/open?token=${linkToken('1500')}`, {
        headers: { 'sec-fetch-site': 'none' },
      }),
    )) as Result;
    const session = sessionOf(opened);
    counted.reset();

    // Act
    const page = (await handler(
      portalEvent('GET', '/portal/me', { cookies: { '__Host-fp_portal': session ?? '' } }),
    )) as Result;

    // Assess
    expect(page.statusCode).toBe(200);
    const bar = (day: string) =>
      new RegExp(`data-day="${day}" data-gb="${mbOn(day).div(1024).toNumber()}"`);
    for (const day of days) expect(page.body).toMatch(bar(day));
    expect(counted.count()).toBeLessThanOrEqual(8);
  });
});

describe('portal: the origin check reads the configured base URL', () => {
  it('accepts a POST whose Origin is portal.baseUrl', async () => {
    // Prepare
    const viaDomain = createPortalHandler(() =>
      portalDeps(table.doc, table.tableName, {
        now: () => NOW,
        config: { portal: { baseUrl: 'https://my.example.com' } },
      }),
    );
    const a = await signIn(A);

    // Act
    const res = (await viaDomain(
      portalEvent('POST', '/portal/logout', {
        cookies: { '__Host-fp_portal': a.session },
        headers: { origin: 'https://my.example.com' },
        form: { csrf: a.csrf },
      }),
    )) as Result;

    // Assess
    expect(res.statusCode).toBe(200);
    expect(res.cookies?.[0]).toMatch(/^__Host-fp_portal=; Path=\/; Max-Age=0;/);
    expect(ORIGIN).not.toBe('https://my.example.com');
  });
});

describe('portal: a browser on the page (Referrer-Policy: no-referrer) posts with Origin null', () => {
  it('is taken when the browser says same-origin, and refused otherwise', async () => {
    // Prepare
    const a = await signIn(A);
    const post = (headers: Record<string, string>) =>
      call('POST', '/portal/zone', {
        cookies: { '__Host-fp_portal': a.session },
        headers,
        form: { csrf: a.csrf, zone: 'UTC' },
      });

    // Act
    const same = await post({ origin: 'null', 'sec-fetch-site': 'same-origin' });
    const cross = await post({ origin: 'null', 'sec-fetch-site': 'cross-site' });
    const unknown = await post({ origin: 'null' });

    // Assess
    expect(same.statusCode).toBe(303);
    expect(cross.statusCode).toBe(403);
    expect(unknown.statusCode).toBe(403);
  });
});

describe('portal: one-click unsubscribe (RFC 8058)', () => {
  it('GET shows a button and changes nothing; POST without cookie or Origin unsubscribes', async () => {
    // Prepare
    const customer = '1006';
    const contacts = new CustomerContactStore(table.doc, table.tableName);
    await contacts.edit(customer, { email: 'uma@example.com' }, NOW);
    const headers = await unsubscribeHeaders({
      store: new PortalStore(table.doc, table.tableName),
      keys: portalKeys(KEY),
      baseUrl: ORIGIN,
      customerId: customer,
      email: 'uma@example.com',
      now: NOW,
    });
    const url = new URL(/^<(.+)>$/.exec(headers['List-Unsubscribe'])?.[1] ?? '');

    // Act
    const shown = await call('GET', `${url.pathname}${url.search}`);
    const afterGet = await contacts.get(customer);
    const done = (await handle({
      ...portalEvent('POST', `${url.pathname}${url.search}`, {
        form: { 'List-Unsubscribe': 'One-Click' },
      }),
      headers: { host: 'portal.example.test', 'content-type': 'application/x-www-form-urlencoded' },
    })) as Result;

    // Assess
    expect(headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
    expect(url.origin + url.pathname).toBe(`${ORIGIN}/portal/unsubscribe`);
    expect(shown.statusCode).toBe(200);
    expect(shown.body).toContain('<form method="post" action="/portal/unsubscribe?token=');
    expect(afterGet?.reminders.email).toBe(true);
    expect(done.statusCode).toBe(200);
    expect(done.body).toContain('You will no longer receive reminders');
    expect((await contacts.get(customer))?.reminders).toEqual({ email: false, sms: true });
  });

  it('refuses a tampered token and a link token in its place', async () => {
    // Prepare
    const contacts = new CustomerContactStore(table.doc, table.tableName);
    await contacts.edit('1007', { email: 'ivy@example.com' }, NOW);
    const linkAsUnsubscribe = linkToken('1007');

    // Act
    const tampered = await call(
      'POST',
      `/portal/unsubscribe?token=${linkAsUnsubscribe.replace(/^1007/, '1008')}`,
    );
    const wrongPurpose = await call('POST', `/portal/unsubscribe?token=${linkAsUnsubscribe}`);

    // Assess
    expect(tampered.statusCode).toBe(403);
    expect(wrongPurpose.statusCode).toBe(403);
    expect((await new CustomerContactStore(table.doc, table.tableName).get(A))?.notices).toBe(
      false,
    );
  });
});

describe('portal: auto top-up, self-service', () => {
  const CATALOG = { payments: { catalog: { 'gb-10': { gb: '10', price: 500, currency: 'usd' } } } };

  it('turns off and on again within the agent limit, recorded as by portal; never without a card', async () => {
    // Prepare
    const store = new AutoTopupStore(table.doc, table.tableName);
    const config = parseConfig(CATALOG);
    await setAutoTopup(
      store,
      {
        customerId: '1010',
        packageId: 'gb-10',
        quantity: 1,
        belowGb: '5',
        paymentMethod: 'pm_card_visa',
        stripeCustomer: 'cus_1010',
        by: 'cli:operator',
        now: NOW,
      },
      config,
    );
    handle = createPortalHandler(() =>
      portalDeps(table.doc, table.tableName, { now: () => NOW, config: CATALOG }),
    );
    const a = await signIn('1010');
    const b = await signIn('1011');
    const post = (session: string, csrf: string, form: Record<string, string>) =>
      call('POST', '/portal/autotopup', {
        cookies: { '__Host-fp_portal': session },
        form: { csrf, ...form },
      });

    // Act
    const off = await post(a.session, a.csrf, {});
    const afterOff = await store.get('1010');
    const overLimit = await post(a.session, a.csrf, {
      enabled: 'on',
      package: 'gb-10',
      belowGb: '8',
      maxPerMonth: '4',
    });
    const on = await post(a.session, a.csrf, {
      enabled: 'on',
      package: 'gb-10',
      belowGb: '8',
      orDaysLeft: '2',
      maxPerMonth: '2',
    });
    const noCard = await post(b.session, b.csrf, { enabled: 'on', package: 'gb-10', belowGb: '8' });
    const page = await call('GET', '/portal/me', { cookies: { '__Host-fp_portal': a.session } });

    // Assess
    expect(a.page.body).toContain('action="/portal/autotopup"');
    expect(off.statusCode).toBe(303);
    expect(afterOff?.enabled).toBe(false);
    expect(overLimit.statusCode).toBe(400);
    expect(on.statusCode).toBe(303);
    expect(await store.get('1010')).toMatchObject({
      enabled: true,
      belowGb: '8',
      orDaysLeft: 2,
      maxPerMonth: 2,
      paymentMethod: 'pm_card_visa',
      updatedBy: 'portal',
    });
    expect(noCard.statusCode).toBe(400);
    expect(await store.get('1011')).toBeUndefined();
    const history = await store.history('1010');
    expect(history.slice(0, 2).map((h) => `${h.by} ${h.event}`)).toEqual([
      'portal on',
      'portal off',
    ]);
    expect(page.body).toContain(
      'On: 10 GB · $5.00 when the balance falls below 8 GB, or when 2 days are left.',
    );
  });
});

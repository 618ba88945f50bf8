import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressTag } from '../../functions/commons/portal/links.ts';
import { portalKeys, signToken } from '../../functions/commons/portal/tokens.ts';
import { LOCAL_DEV_SECRETS } from '../../local/runtime/env.ts';
import { bannerLinkOf, launchChromium } from '../helpers/chromium.ts';
import { type LocalRun, startLocal, stopGroup } from '../helpers/npm-start.ts';

const CUSTOMER = '1001';
const EMAIL = 'a11y@example.com';

/** Serious and critical axe violations of the page as it stands: id and the nodes hit. */
async function violations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

describe('customer page accessibility and one-click unsubscribe: npm start and Chromium', () => {
  let running: LocalRun | undefined;
  let browser: Browser | undefined;
  let base = '';
  let link = '';
  const launched = () => {
    if (!browser) throw new Error('Chromium did not start');
    return browser;
  };
  /** The one-click unsubscribe address a notice to EMAIL carries (the dev secret signs it). */
  const unsubscribePath = () => {
    const keys = portalKeys(LOCAL_DEV_SECRETS.PORTAL_SECRET);
    const token = signToken(keys, 'unsubscribe', {
      customerId: CUSTOMER,
      version: 0,
      expires: Math.floor(Date.now() / 1000) + 86_400,
    });
    return `/portal/unsubscribe?token=${token}&a=${addressTag(keys, CUSTOMER, EMAIL)}`;
  };

  beforeAll(async () => {
    running = await startLocal({ text: '/portal/open?token=', timeoutMs: 120_000 });
    base = running.base;
    link = bannerLinkOf(running.output());
    expect((await running.invoke('poll-usage')).status).toBe(200);
    expect((await running.invoke('poll-customers')).status).toBe(200);
    expect(
      (await running.flowpilot(['customer', 'contact', CUSTOMER, '--email', EMAIL])).code,
    ).toBe(0);
    browser = await launchChromium();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await stopGroup(running);
  });

  it.each([
    ['en-US', 'en'],
    ['zh-CN', 'zh-CN'],
  ])(
    'the page in %s has no serious or critical violations',
    async (locale, lang) => {
      // Prepare
      const context = await launched().newContext({ locale });
      const page = await context.newPage();

      // Act
      await page.goto(link);
      const found = await violations(page);

      // Assess
      expect(await page.getAttribute('html', 'lang')).toBe(lang);
      expect(found).toEqual([]);
      await context.close();
    },
    120_000,
  );

  it('the 403 page and the unsubscribe page have no serious or critical violations', async () => {
    // Prepare
    const context = await launched().newContext({ locale: 'en-US' });
    const page = await context.newPage();

    // Act
    const refused = await page.goto(`${base}/portal/open?token=1001.0.1.AAAA`);
    const onRefused = await violations(page);
    const shown = await page.goto(`${base}${unsubscribePath()}`);
    const onUnsubscribe = await violations(page);

    // Assess
    expect(refused?.status()).toBe(403);
    expect(onRefused).toEqual([]);
    expect(shown?.status()).toBe(200);
    expect(onUnsubscribe).toEqual([]);
    await context.close();
  }, 120_000);

  it("one-click unsubscribe: GET changes nothing, the mail provider's POST stops email reminders; the page shows it with scripts disabled", async () => {
    // Prepare
    const context = await launched().newContext({ javaScriptEnabled: false, locale: 'en-US' });
    const page = await context.newPage();
    const emailBox = page.locator('input[name="email"][type="checkbox"]');

    // Act
    await page.goto(link);
    const before = await emailBox.isChecked();
    const shown = await fetch(`${base}${unsubscribePath()}`);
    await page.goto(`${base}/portal/me`);
    const afterGet = await emailBox.isChecked();
    // RFC 8058: what a mail provider sends, without cookie or Origin.
    const posted = await fetch(`${base}${unsubscribePath()}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    await page.goto(`${base}/portal/me`);
    const afterPost = await emailBox.isChecked();
    // And back on from the page, by its own form (no script).
    await emailBox.check();
    await Promise.all([page.waitForURL(`${base}/portal/me`), page.click('#notices form button')]);
    const again = await emailBox.isChecked();

    // Assess
    expect([before, shown.status, afterGet]).toEqual([true, 200, true]);
    expect(posted.status).toBe(200);
    expect(afterPost).toBe(false);
    expect(again).toBe(true);
    await context.close();
  }, 120_000);
});

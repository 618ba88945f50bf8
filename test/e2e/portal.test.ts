import { createServer, type Server } from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from '../../functions/commons/units.ts';
import { freePort } from '../../scripts/dynamodb-local.ts';
import { bannerLinkOf, launchChromium } from '../helpers/chromium.ts';
import { type LocalRun, startLocal, stopGroup } from '../helpers/npm-start.ts';

const CUSTOMER = '1001';

/**
 * Another site: serves `html` at / from its own port on the page's host (same site, another
 * origin, so the browser sends the page's SameSite=Lax cookie along and only the Origin check
 * stands in the way).
 */
async function attackerSite(html: string): Promise<{ url: string; server: Server }> {
  const server = createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
  });
  const port = await freePort();
  await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${port}/`, server };
}

describe('customer page end to end: npm start and Chromium', () => {
  let running: LocalRun | undefined;
  let browser: Browser | undefined;
  let base = '';
  let bannerLink = '';
  const flowpilot = (args: string[]) => {
    if (!running) throw new Error('npm start did not start');
    return running.flowpilot(args);
  };
  const launched = () => {
    if (!browser) throw new Error('Chromium did not start');
    return browser;
  };

  beforeAll(async () => {
    running = await startLocal({ text: '/portal/open?token=', timeoutMs: 120_000 });
    base = running.base;
    bannerLink = bannerLinkOf(running.output());
    expect((await running.invoke('poll-usage')).status).toBe(200);
    expect((await running.invoke('poll-customers')).status).toBe(200);
    browser = await launchChromium(['--disable-background-networking']);
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await stopGroup(running);
  });

  it('opens the banner link with scripts disabled: the token leaves the address bar, the balance and chart are right', async () => {
    // Prepare
    const context = await launched().newContext({ javaScriptEnabled: false, locale: 'en-US' });
    const page = await context.newPage();
    const shown = await flowpilot(['customer', CUSTOMER, '--json']);
    const balanceMb = (JSON.parse(shown.stdout) as { balance: { balanceMb: string } }).balance
      .balanceMb;

    // Act
    const response = await page.goto(bannerLink);
    const url = page.url();
    const balanceGb = await page.locator('[data-balance-gb]').getAttribute('data-balance-gb');
    const bars = await page.locator('svg.chart rect.bar').count();
    const barBoxes = await page
      .locator('svg.chart rect.bar')
      .evaluateAll((els) => els.filter((e) => e.getBoundingClientRect().height > 0).length);

    // Assess
    expect(bannerLink).toContain(`/portal/open?token=${CUSTOMER}.`);
    expect(response?.status()).toBe(200);
    expect(url).toBe(`${base}/portal/me`);
    expect(new Decimal(balanceGb ?? 'NaN').toFixed()).toBe(
      new Decimal(balanceMb).div(1024).toFixed(),
    );
    expect(bars).toBe(30);
    // Drawn with scripts off (Playwright measures from its own world): the days with usage.
    expect(barBoxes).toBeGreaterThan(0);
    await context.close();
  }, 120_000);

  it('renders in Simplified Chinese for a zh-CN browser and switches language by link', async () => {
    // Prepare
    const context = await launched().newContext({ locale: 'zh-CN' });
    const page = await context.newPage();

    // Act
    await page.goto(bannerLink);
    const heading = await page.locator('h1').textContent();
    await page.getByRole('link', { name: 'English' }).click();
    const after = await page.locator('h1').textContent();

    // Assess
    expect(heading).toBe('我的流量');
    expect(await page.locator('html').getAttribute('lang')).toBe('en');
    expect(after).toBe('Your traffic');
    await context.close();
  }, 120_000);

  it('answers 403 to a tampered link and to a cross-site form post, and to a revoked session', async () => {
    // Prepare
    const context = await launched().newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    const tampered = bannerLink.replace(`token=${CUSTOMER}.`, 'token=1002.');
    await page.goto(bannerLink);
    // The victim's own CSRF token copied into the other site's form: only the Origin check is left.
    const csrf = await page.locator('input[name="csrf"]').first().inputValue();
    const zoneBefore = await page.locator('select[name="zone"]').inputValue();
    const attacker = await attackerSite(
      `<!doctype html><title>win</title><form method="post" action="${base}/portal/zone"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="zone" value="Asia/Tokyo"><button>go</button></form>`,
    );

    // Act
    const forged = await page.goto(tampered);
    const forgedText = await page.locator('body').textContent();
    await page.goto(attacker.url);
    const [crossSite] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/portal/zone')),
      page.click('button'),
    ]);
    const crossSiteHeaders = await crossSite.request().allHeaders();
    const after = await page.goto(`${base}/portal/me`);
    const zoneAfter = await page.locator('select[name="zone"]').inputValue();
    const revoke = await flowpilot(['customer', 'link', CUSTOMER, '--revoke']);
    const revoked = await page.goto(`${base}/portal/me`);
    await new Promise((done) => attacker.server.close(done));

    // Assess
    expect(forged?.status()).toBe(403);
    expect(forgedText).toContain('This link cannot be used');
    expect(zoneBefore).not.toBe('Asia/Tokyo');
    expect(crossSiteHeaders.origin).toBe(new URL(attacker.url).origin);
    expect(crossSite.status()).toBe(403);
    expect(after?.status()).toBe(200);
    expect(zoneAfter).toBe(zoneBefore);
    expect(revoke.code).toBe(0);
    expect(revoked?.status()).toBe(403);
    await context.close();
  }, 120_000);
});

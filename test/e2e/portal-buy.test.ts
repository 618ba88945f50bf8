import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTO_TOPUP_MARKER } from '../../functions/commons/payments/autotopup-marker.ts';
import { Decimal } from '../../functions/commons/units.ts';
import { bannerLinkOf, launchChromium } from '../helpers/chromium.ts';
import { type LocalRun, startLocal, stopGroup, stripeStandInOf } from '../helpers/npm-start.ts';

/*
 * Buy with "top up automatically" on the customer page, as a customer would: `npm start`, the
 * banner's link in Chromium (scripts off), the Stripe stand-in's Checkout page, its signed
 * webhook to the runtime, the polls; then usage drives the balance low and the next poll
 * charges the card the Checkout saved, once.
 */

const CUSTOMER = '1001';
const PACKAGE = 'demo-10gb';

/** Asks until `found` holds (an asynchronous delivery), or fails with the last answer. */
async function eventually<T>(ask: () => Promise<T>, found: (v: T) => boolean): Promise<T> {
  let last = await ask();
  for (let i = 0; i < 80 && !found(last); i++) {
    await new Promise((r) => setTimeout(r, 250));
    last = await ask();
  }
  return last;
}

describe('customer page end to end: Buy with automatic top-up, then the top-up', () => {
  let running: LocalRun | undefined;
  let browser: Browser | undefined;
  let base = '';
  let bannerLink = '';
  let simulatorUrl = '';
  let standIn = { url: '', key: '' };
  const started = () => {
    if (!running) throw new Error('npm start did not start');
    return running;
  };

  const invoke = async (name: string) => {
    expect((await started().invoke(name)).status).toBe(200);
  };
  const poll = async () => {
    await invoke('poll-usage');
    await invoke('poll-customers');
  };
  const ledger = async () =>
    (
      (await (await fetch(`${simulatorUrl}/_sim/ledger`)).json()) as { customerId: string }[]
    ).filter((l) => l.customerId === CUSTOMER);
  /** The PaymentIntents auto top-up created at the stand-in (Checkout's carry no marker). */
  const autoTopupCharges = async () => {
    const res = await fetch(`${standIn.url}/v1/payment_intents?limit=100`, {
      headers: { authorization: `Bearer ${standIn.key}` },
    });
    const list = (await res.json()) as {
      data: { id: string; status: string; metadata: Record<string, string> }[];
    };
    return list.data.filter((pi) => pi.metadata[AUTO_TOPUP_MARKER.key] === AUTO_TOPUP_MARKER.value);
  };
  const history = async () => {
    const out = await started().flowpilot(['autotopup', 'history', CUSTOMER, '--json']);
    return (JSON.parse(out.stdout || '[]') as { event: string; by: string }[])
      .map((l) => `${l.event} by ${l.by.replace(/:.*/, '')}`)
      .reverse();
  };
  const balanceOn = async (page: Page) =>
    new Decimal((await page.locator('[data-balance-gb]').getAttribute('data-balance-gb')) ?? 'NaN');

  beforeAll(async () => {
    running = await startLocal({ text: '/portal/open?token=', timeoutMs: 120_000 });
    base = running.base;
    bannerLink = bannerLinkOf(running.output());
    standIn = stripeStandInOf(running.output());
    simulatorUrl = ((await (await fetch(`${base}/health`)).json()) as { simulatorUrl: string })
      .simulatorUrl;
    await poll();
    expect((await running.flowpilot(['customer', 'calibrate', CUSTOMER, '--gb', '120'])).code).toBe(
      0,
    );
    browser = await launchChromium();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await stopGroup(running);
  });

  it('buys at Checkout, is credited, and the card it saved is charged once when the balance runs low', async () => {
    // Prepare
    if (!browser) throw new Error('Chromium did not start');
    const context = await browser.newContext({ javaScriptEnabled: false, locale: 'en-US' });
    const page = await context.newPage();
    await page.goto(bannerLink);
    const before = await balanceOn(page);

    // Act 1: Buy, ticking "top up automatically" below 20 GB, and pay at Checkout
    const form = page.locator(`form.buy:has(input[name="package"][value="${PACKAGE}"])`);
    await form.locator('input[name="auto"]').check();
    await form.locator('input[name="belowGb"]').fill('20');
    await form.locator('button[type="submit"]').click();
    const checkoutUrl = page.url();
    await page.getByRole('button', { name: 'Pay' }).click();
    const back = page.url();
    const shownHistory = await eventually(history, (h) => h.includes('on by checkout'));
    await eventually(ledger, (l) => l.length === 1);
    await poll();
    await page.goto(`${base}/portal/me`);
    const afterBuy = await balanceOn(page);
    const state = await page.locator('#autotopup-state').textContent();

    // Assess 1
    expect(checkoutUrl).toMatch(new RegExp(`^${standIn.url}/checkout/pay/cs_test_`));
    expect(back).toBe(`${base}/portal/me?m=paid`);
    expect(shownHistory).toEqual(['on by checkout']);
    expect(afterBuy.minus(before).toFixed()).toBe('10');
    expect(state).toContain('20');

    // Act 2: the customer raises the threshold on the page, then uses traffic down to 25 GB
    await page.locator('#autotopup input[name="belowGb"]').fill('30');
    await page.locator('#autotopup button[type="submit"]').click();
    const used = afterBuy.minus(25).times(1024).toFixed(2);
    const use = await fetch(`${simulatorUrl}/_sim/customers/use`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ customerId: CUSTOMER, downloadMb: used }),
    });
    expect(use.status).toBe(200);
    await poll();
    const charges = await eventually(autoTopupCharges, (c) => c.length > 0);
    const credits = await eventually(ledger, (l) => l.length === 2);
    await poll();
    await page.goto(`${base}/portal/me`);
    const afterTopUp = await balanceOn(page);

    // Assess 2: one PaymentIntent, one credit, shown on the page; the page's change by portal
    expect(charges).toEqual([expect.objectContaining({ status: 'succeeded' })]);
    expect(await autoTopupCharges()).toHaveLength(1);
    expect(credits).toHaveLength(2);
    expect((await ledger()).length).toBe(2);
    expect(afterTopUp.toFixed()).toBe('35');
    expect(await history()).toEqual([
      'on by checkout',
      'settings by portal',
      'episode by auto',
      'charged by auto',
      'credited by webhook',
    ]);
    await context.close();
  }, 240_000);
});

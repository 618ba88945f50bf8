import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTO_TOPUP_MARKER } from '../../functions/commons/payments/autotopup-marker.ts';
import { Decimal } from '../../functions/commons/units.ts';
import { freePort } from '../../scripts/dynamodb-local.ts';

/*
 * Buy with "top up automatically" on the customer page, as a customer would: `npm start`, the
 * banner's link in Chromium (scripts off), the Stripe stand-in's Checkout page, its signed
 * webhook to the runtime, the polls; then usage drives the balance low and the next poll
 * charges the card the Checkout saved, once.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const LOCAL_TOKEN = 'e2e-portal-buy-local-token-0123';
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu'];
const CUSTOMER = '1001';
const PACKAGE = 'demo-10gb';

async function start(dataDir: string, port: number) {
  let output = '';
  const child = spawn('npm', ['start'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      SIMULATOR_PORT: '0',
      FLOWPILOT_DATA_DIR: dataDir,
      FLOWPILOT_CONFIG: '',
      FLOWPILOT_LOCAL_TOKEN: LOCAL_TOKEN,
      STRIPE_API_BASE_URL: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (d) => {
      output += d;
    });
  }
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`npm start exited early:\n${output}`);
    try {
      if ((await fetch(`${base}/health`)).ok && output.includes('/portal/open?token=')) {
        return { child, base, output };
      }
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`npm start did not answer /health:\n${output}`);
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null) return done();
    child.once('close', () => done());
    if (child.pid) process.kill(-child.pid, 'SIGTERM');
  });
}

function flowpilot(args: string[], dataDir: string): Promise<{ code: number; stdout: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [resolve(ROOT, 'bin/flowpilot.js'), ...args],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          FLOWPILOT_DATA_DIR: dataDir,
          FLOWPILOT_CONFIG: '',
          PORTAL_SECRET: '',
        },
        timeout: 60_000,
      },
      (err, stdout) => done({ code: err ? Number(err.code ?? -1) : 0, stdout }),
    );
  });
}

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
  let child: ChildProcess | undefined;
  let browser: Browser | undefined;
  let base = '';
  let dataDir = '';
  let bannerLink = '';
  let simulatorUrl = '';
  let standIn = { url: '', key: '' };

  const invoke = async (name: string) => {
    const res = await fetch(`${base}/_local/invoke/${name}`, {
      method: 'POST',
      headers: { 'x-flowpilot-token': LOCAL_TOKEN },
    });
    expect(res.status).toBe(200);
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
    const out = await flowpilot(['autotopup', 'history', CUSTOMER, '--json'], dataDir);
    return (JSON.parse(out.stdout || '[]') as { event: string; by: string }[])
      .map((l) => `${l.event} by ${l.by.replace(/:.*/, '')}`)
      .reverse();
  };
  const balanceOn = async (page: Page) =>
    new Decimal((await page.locator('[data-balance-gb]').getAttribute('data-balance-gb')) ?? 'NaN');

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is required at ${CHROMIUM} for this test: apt-get install chromium`,
      );
    }
    dataDir = mkdtempSync(join(tmpdir(), 'fp-e2e-portal-buy-'));
    const running = await start(dataDir, await freePort());
    child = running.child;
    base = running.base;
    bannerLink = /(http:\/\/\S+\/portal\/open\?token=\S+)/.exec(running.output)?.[1] ?? '';
    standIn = {
      url: /Stripe stand-in at (http:\/\/[\d.:]+)/.exec(running.output)?.[1] ?? '',
      key: /stripe key {3}(\S+)/.exec(running.output)?.[1] ?? '',
    };
    simulatorUrl = ((await (await fetch(`${base}/health`)).json()) as { simulatorUrl: string })
      .simulatorUrl;
    await poll();
    expect(
      (await flowpilot(['customer', 'calibrate', CUSTOMER, '--gb', '120'], dataDir)).code,
    ).toBe(0);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    if (child) await stop(child);
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

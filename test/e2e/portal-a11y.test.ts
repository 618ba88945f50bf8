import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressTag } from '../../functions/commons/portal/links.ts';
import { portalKeys, signToken } from '../../functions/commons/portal/tokens.ts';
import { LOCAL_DEV_SECRETS } from '../../local/runtime/env.ts';
import { freePort } from '../../scripts/dynamodb-local.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const LOCAL_TOKEN = 'e2e-portal-a11y-local-token-01';
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu'];
const CUSTOMER = '1001';
const EMAIL = 'a11y@example.com';

/** `npm start` as a newcomer runs it; resolves once /health answers and the banner has a link. */
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
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`npm start exited early:\n${output}`);
    try {
      if ((await fetch(`${base}/health`)).ok && output.includes('/portal/open?token=')) {
        return { child, base, output: () => output };
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
        env: { ...process.env, FLOWPILOT_DATA_DIR: dataDir, FLOWPILOT_CONFIG: '' },
        timeout: 60_000,
      },
      (err, stdout) => done({ code: err ? Number(err.code ?? -1) : 0, stdout }),
    );
  });
}

/** Serious and critical axe violations of the page as it stands: id and the nodes hit. */
async function violations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

describe('customer page accessibility and one-click unsubscribe: npm start and Chromium', () => {
  let child: ChildProcess | undefined;
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
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is required at ${CHROMIUM} for this test: apt-get install chromium`,
      );
    }
    const dataDir = mkdtempSync(join(tmpdir(), 'fp-e2e-a11y-'));
    const running = await start(dataDir, await freePort());
    child = running.child;
    base = running.base;
    link = /(http:\/\/\S+\/portal\/open\?token=\S+)/.exec(running.output())?.[1] ?? '';
    const invoke = (name: string) =>
      fetch(`${base}/_local/invoke/${name}`, {
        method: 'POST',
        headers: { 'x-flowpilot-token': LOCAL_TOKEN },
      });
    expect((await invoke('poll-usage')).status).toBe(200);
    expect((await invoke('poll-customers')).status).toBe(200);
    expect(
      (await flowpilot(['customer', 'contact', CUSTOMER, '--email', EMAIL], dataDir)).code,
    ).toBe(0);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    if (child) await stop(child);
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

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCAL_DEV_SECRETS } from '../../local/runtime/env.ts';
import { freePort } from '../../scripts/dynamodb-local.ts';
import { signedCheckoutCompleted } from '../../scripts/stripe-checkout.ts';

const ROOT = resolve(import.meta.dirname, '../..');
/** The runtime's per-run token, fixed here so the test can call /_local/*. */
const LOCAL_TOKEN = `e2e-${randomBytes(12).toString('hex')}`;
const AUTH = { 'x-flowpilot-token': LOCAL_TOKEN };

interface Running {
  child: ChildProcess;
  closed: boolean;
  base: string;
  output: () => string;
}

/** `npm start` as a newcomer runs it, on free ports and a fresh data folder. */
async function start(dataDir: string, port: number): Promise<Running> {
  let output = '';
  const child = spawn('npm', ['start'], {
    cwd: ROOT,
    // SIMULATOR_PORT 0: a free one, rather than PORT + 1 which another test may hold.
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
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`npm start exited early:\n${output}`);
    try {
      if ((await fetch(`${base}/health`)).ok) {
        const run: Running = { child, closed: false, base, output: () => output };
        child.once('close', () => {
          run.closed = true;
        });
        return run;
      }
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`npm start did not answer /health:\n${output}`);
}

/**
 * SIGTERM to the whole process group, as a terminal's Ctrl-C or a service manager would:
 * npm itself does not wait for its script, so the runtime's own exit is read from its output
 * once every pipe has closed.
 */
function stop(run: Running): Promise<void> {
  return new Promise((res) => {
    if (run.closed) return res();
    run.child.once('close', () => res());
    if (run.child.pid) process.kill(-run.child.pid, 'SIGTERM');
  });
}

function stripePayment(sessionId: string, customerId: string) {
  return signedCheckoutCompleted({
    secret: LOCAL_DEV_SECRETS.STRIPE_WEBHOOK_SECRET,
    sessionId,
    customerId,
    packageId: 'demo-10gb',
    quantity: 1,
    amountMinor: 500,
    currency: 'usd',
  });
}

async function post(
  url: string,
  body: string,
  headers: Record<string, string> = {},
  method = 'POST',
) {
  const res = await fetch(url, { method, headers, body });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('local runtime end to end: npm start', () => {
  const running: Running[] = [];
  afterAll(async () => {
    for (const r of running) await stop(r);
  });

  it('credits a payment delivered 20 times at once exactly once, polls, alerts, stops cleanly and keeps its data', async () => {
    // Prepare
    const dataDir = mkdtempSync(join(tmpdir(), 'fp-e2e-'));
    const port = await freePort();
    const first = await start(dataDir, port);
    running.push(first);
    const health = (await (await fetch(`${first.base}/health`)).json()) as { simulatorUrl: string };
    const sim = new URL('/', health.simulatorUrl).href;
    const payment = stripePayment(`cs_e2e_${randomBytes(6).toString('hex')}`, '1001');
    const webhook = `${first.base}/webhooks/stripe`;
    const headers = { 'content-type': 'application/json', 'stripe-signature': payment.signature };

    // Act: a payment, then a poll that finds the primary pool nearly empty.
    // 20 concurrent deliveries of one payment, as a provider's retries can race.
    const deliveries = await Promise.all(
      Array.from({ length: 20 }, () => post(webhook, payment.payload, headers)),
    );
    const lowered = await post(
      `${sim}_sim/pools/primary`,
      JSON.stringify({ residualMb: '1024' }),
      { 'content-type': 'application/json' },
      'PUT',
    );
    expect(lowered.status).toBe(200);
    const poll = await post(`${first.base}/_local/invoke/poll-totals`, '', AUTH);

    // Assess
    const results = deliveries.map((d) => `${d.status} ${String(d.body.result ?? d.body.message)}`);
    expect(results.filter((r) => r === '200 credited')).toHaveLength(1);
    for (const r of results)
      expect(r).toMatch(/^(200 credited|200 already-credited|409 in-progress)$/);
    const ledger = (await (await fetch(`${sim}_sim/ledger`)).json()) as {
      customerId: string;
      trafficGb: string;
    }[];
    expect(ledger).toEqual([expect.objectContaining({ customerId: '1001', trafficGb: '10' })]);
    expect(poll.status).toBe(200);
    expect(poll.body).toMatchObject({ function: 'poll-totals', ok: true });
    expect(first.output()).toMatch(/ALERT .*severity=critical rule=low-residual pool=primary/);

    // The upstream now rejects the token: the poll fails (non-2xx) and says so once.
    await post(
      `${sim}_sim/faults`,
      JSON.stringify({ kind: 'auth', endpoint: 'getFlowTotalFull' }),
      { 'content-type': 'application/json' },
    );
    const rejected = await post(`${first.base}/_local/invoke/poll-totals`, '', AUTH);
    expect(rejected.status).toBe(502);
    expect(rejected.body).toMatchObject({
      ok: false,
      result: { outcome: { ok: false, reason: 'auth' } },
    });
    expect(first.output()).toMatch(/ALERT .*rule=token-rejected/);
    expect(await post(`${first.base}/_local/invoke/no-such-function`, '', AUTH)).toMatchObject({
      status: 404,
    });

    // Stop with SIGTERM: in-flight work finishes, the store closes.
    await stop(first);
    expect(first.output()).toMatch(/SIGTERM: stopping…\nstopped/);

    // Restart on the same data: the order is remembered, so the retry credits nothing new;
    // the simulator kept its state too, so its ledger still holds the one recharge.
    const second = await start(dataDir, port);
    running.push(second);
    const health2 = (await (await fetch(`${second.base}/health`)).json()) as {
      simulatorUrl: string;
    };
    const again = await post(`${second.base}/webhooks/stripe`, payment.payload, headers);
    expect(again.status).toBe(200);
    expect(again.body.result).toMatch(/already/);
    const ledger2 = (await (
      await fetch(new URL('/_sim/ledger', health2.simulatorUrl))
    ).json()) as unknown[];
    expect(ledger2).toEqual(ledger);
    await stop(second);
    expect(second.output()).toMatch(/stopped/);
  }, 120_000);
});

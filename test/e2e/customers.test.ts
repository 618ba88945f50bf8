import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Decimal } from '../../functions/commons/units.ts';
import { freePort } from '../../scripts/dynamodb-local.ts';

const LOCAL_TOKEN = 'e2e-customers-local-token';

const ROOT = resolve(import.meta.dirname, '../..');

/** `npm start` on a free port and a fresh data folder; resolves once /health answers. */
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
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`npm start exited early:\n${output}`);
    try {
      if ((await fetch(`${base}/health`)).ok) return { child, base };
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

/** The real `flowpilot` executable, finding the running runtime through the data folder. */
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

describe('customer balances end to end: npm start', () => {
  let child: ChildProcess | undefined;
  afterAll(async () => {
    if (child) await stop(child);
  });

  it('computes every customer balance with poll-customers and shows it in the CLI and on the status page', {
    timeout: 180_000,
  }, async () => {
    // Prepare
    const dataDir = mkdtempSync(join(tmpdir(), 'fp-e2e-customers-'));
    const running = await start(dataDir, await freePort());
    child = running.child;
    const health = (await (await fetch(`${running.base}/health`)).json()) as {
      simulatorUrl: string;
    };
    const sim = new URL('/', health.simulatorUrl).href;
    const invoke = async (name: string) => {
      const res = await fetch(`${running.base}/_local/invoke/${name}`, {
        method: 'POST',
        headers: { 'x-flowpilot-token': LOCAL_TOKEN },
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };

    // Act: usage first, then the balances (the first run is the backfill); then a top-up
    // made by hand in the vendor console, seen by the next run.
    expect((await invoke('poll-usage')).status).toBe(200);
    const backfill = await invoke('poll-customers');
    await fetch(`${sim}_sim/customers/topup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ customerId: '1001', mb: '2048' }),
    });
    const steady = await invoke('poll-customers');
    const listed = await flowpilot(['customers', '--json'], dataDir);
    const page = await (await fetch(`${running.base}/`)).text();

    // Assess: every balance is the one the vendor keeps: the seeded purchases and 1001's
    // console top-up less every usage row the simulator reports.
    expect(backfill).toMatchObject({ status: 200, body: { ok: true } });
    expect(steady.body).toMatchObject({
      ok: true,
      result: { outcome: { ok: true, complete: true, records: { new: 1 } } },
    });
    const vendor = (await (await fetch(`${sim}_sim/customers`)).json()) as {
      customerId: string;
      inChannel: boolean;
      balanceMb: string;
    }[];
    expect(listed.code).toBe(0);
    const customers = (JSON.parse(listed.stdout) as { customers: Record<string, unknown>[] })
      .customers;
    expect(customers.map((c) => c.customerId).sort()).toEqual([
      '1001',
      '1002',
      '1003',
      '1004',
      '1005',
    ]);
    for (const v of vendor.filter((c) => c.inChannel)) {
      expect(customers.find((c) => c.customerId === v.customerId)).toMatchObject({
        balanceMb: v.balanceMb,
      });
      expect(new Decimal(v.balanceMb).gt(0)).toBe(true);
    }
    expect(customers.find((c) => c.customerId === '1001')).toMatchObject({ lastCreditMb: '2048' });
    // The seed funds most customers comfortably and leaves two running low.
    expect(page).toContain('<h2>Customers running low (2)</h2>');
  });
});

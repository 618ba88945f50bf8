import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { writeRuntimeInfo } from '../../local/cli/connection.ts';
import { LOCAL_DEV_SECRETS } from '../../local/runtime/env.ts';
import { type Simulator, startSimulator } from '../../local/simulator/index.ts';
import { freePort } from '../../scripts/dynamodb-local.ts';
import { signedCheckoutCompleted } from '../../scripts/stripe-checkout.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = resolve(ROOT, 'bin/flowpilot.js');

interface Running {
  child: ChildProcess;
  base: string;
  port: number;
  dataDir: string;
  output: () => string;
  exited: Promise<number | null>;
}

/**
 * `npm start` in its own process group, on a free port and a fresh data folder; `loopback`
 * is where it is reached (`[::1]` when HOST=::1).
 */
async function npmStart(
  env: Record<string, string>,
  waitForHealth = true,
  loopback = '127.0.0.1',
): Promise<Running> {
  const dataDir = mkdtempSync(join(tmpdir(), 'fp-sec-'));
  const port = await freePort();
  let output = '';
  const child = spawn('npm', ['start'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      SIMULATOR_PORT: '0',
      FLOWPILOT_DATA_DIR: dataDir,
      FLOWPILOT_CONFIG: '',
      FLOWPILOT_LOCAL_TOKEN: '',
      IPWEB_BASE_URL: '',
      IPWEB_TOKEN: '',
      STRIPE_WEBHOOK_SECRET: '',
      STANDARD_WEBHOOK_SECRET: '',
      EPAY_KEY: '',
      SNS_TOPIC_ARN: '',
      STRIPE_API_BASE_URL: '',
      STRIPE_API_KEY: '',
      STRIPE_READ_KEY: '',
      STRIPE_CHECKOUT_KEY: '',
      HOST: '',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (d) => {
      output += d;
    });
  }
  const exited = new Promise<number | null>((res) => child.once('close', (code) => res(code)));
  const run = {
    child,
    base: `http://${loopback}:${port}`,
    port,
    dataDir,
    output: () => output,
    exited,
  };
  if (!waitForHealth) return run;
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`npm start exited early:\n${output}`);
    try {
      if ((await fetch(`${run.base}/health`)).ok && output.includes('FlowPilot is running')) {
        return run;
      }
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`npm start did not answer /health:\n${output}`);
}

async function stop(run: Running): Promise<void> {
  if (run.child.exitCode === null && run.child.pid) {
    try {
      process.kill(-run.child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  await run.exited;
}

/** A raw request, so the test can set `Host` (fetch will not). */
function raw(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', fail);
    req.end(opts.body);
  });
}

/** Every folder and file under `dir` with its permission bits, e.g. `dynamodb/CURRENT 600`. */
function modes(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    const line = `${prefix}${entry.name} ${(statSync(path).mode & 0o777).toString(8)}`;
    return entry.isDirectory() ? [line, ...modes(path, `${prefix}${entry.name}/`)] : [line];
  });
}

/** The banner's Stripe stand-in: its URL and the key of this run. */
function standInOf(output: string): { url: string; key: string } {
  return {
    url: /Stripe stand-in at (http:\/\/[\d.:]+)/.exec(output)?.[1] ?? '',
    key: /stripe key {3}(\S+)/.exec(output)?.[1] ?? '',
  };
}

function devPayment() {
  return signedCheckoutCompleted({
    secret: LOCAL_DEV_SECRETS.STRIPE_WEBHOOK_SECRET,
    sessionId: `cs_sec_${randomBytes(6).toString('hex')}`,
    customerId: '1001',
    packageId: 'demo-10gb',
    quantity: 1,
    amountMinor: 500,
    currency: 'usd',
  });
}

function flowpilot(args: string[], cwd: string, env: Record<string, string>) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        cwd,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? cwd,
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'local',
          AWS_SECRET_ACCESS_KEY: 'local',
          ...env,
        },
        timeout: 60_000,
      },
      (err, stdout, stderr) =>
        done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

describe('local runtime security: npm start with the simulator', () => {
  let run: Running;
  let token: string;
  beforeAll(async () => {
    run = await npmStart({});
    token = JSON.parse(readFileSync(join(run.dataDir, 'runtime.json'), 'utf8')).localToken;
  }, 120_000);
  afterAll(() => stop(run));

  it('makes a random per-run token, prints it and writes it for its owner only', () => {
    expect(token).toMatch(/^[0-9a-f]{48}$/);
    expect(run.output()).toContain(`x-flowpilot-token: ${token}`);
    expect(statSync(join(run.dataDir, 'runtime.json')).mode & 0o777).toBe(0o600);
  });

  it('runs /_local/* only for the holder of the token', async () => {
    const url = `${run.base}/_local/invoke/poll-totals`;
    const none = await fetch(url, { method: 'POST' });
    const wrong = await fetch(url, { method: 'POST', headers: { 'x-flowpilot-token': 'guess' } });
    const right = await fetch(url, { method: 'POST', headers: { 'x-flowpilot-token': token } });
    expect([none.status, wrong.status, right.status]).toEqual([401, 401, 200]);
  });

  it('refuses a Host it does not answer to (DNS rebinding) on every route', async () => {
    const evil = { host: `rebind.example:${run.port}` };
    for (const [method, path] of [
      ['GET', '/health'],
      ['GET', '/'],
      ['POST', '/webhooks/stripe'],
      ['POST', '/_local/invoke/poll-totals'],
    ] as const) {
      const res = await raw(`${run.base}${path}`, { method, headers: evil });
      expect(res, `${method} ${path}`).toMatchObject({ status: 403 });
    }
    expect(
      (await raw(`${run.base}/health`, { headers: { host: `localhost:${run.port}` } })).status,
    ).toBe(200);
  });

  it('refuses state-changing requests a browser sends for another site, and credits nothing', async () => {
    // Prepare: a correctly signed payment, as a malicious page could replay one.
    const paid = devPayment();
    const signed = { 'content-type': 'application/json', 'stripe-signature': paid.signature };
    const sim = new URL(
      '/',
      ((await (await fetch(`${run.base}/health`)).json()) as { simulatorUrl: string }).simulatorUrl,
    );

    // Act
    const fromOrigin = await fetch(`${run.base}/webhooks/stripe`, {
      method: 'POST',
      headers: { ...signed, origin: 'https://attacker.example' },
      body: paid.payload,
    });
    const crossSite = await fetch(`${run.base}/webhooks/epay`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'sec-fetch-site': 'cross-site',
      },
      body: 'a=1',
    });
    const textPlain = await fetch(`${run.base}/_local/invoke/payment-webhook`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', origin: 'null', 'x-flowpilot-token': token },
      body: '{}',
    });
    const ledger = (await (await fetch(new URL('/_sim/ledger', sim))).json()) as unknown[];

    // Assess
    expect([fromOrigin.status, crossSite.status, textPlain.status]).toEqual([403, 403, 403]);
    expect(ledger).toEqual([]);
  });

  it('runs the Stripe stand-in on loopback with a random key of this run, refusing a foreign Host', async () => {
    // Prepare
    const standIn = standInOf(run.output());
    const list = (key: string, host?: string) =>
      raw(`${standIn.url}/v1/payment_intents`, {
        headers: { authorization: `Bearer ${key}`, ...(host ? { host } : {}) },
      });

    // Act
    const publicKey = await list('sk_test_flowpilot_local');
    const rebound = await list(standIn.key, `rebind.example:${new URL(standIn.url).port}`);
    const own = await list(standIn.key);

    // Assess
    expect(standIn.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(standIn.key).toMatch(/^rk_test_local_[0-9a-f]{48}$/);
    expect([publicKey.status, rebound.status, own.status]).toEqual([401, 403, 200]);
  });

  it("refuses the simulator's control API to a foreign Host and to a browser's cross-site change", async () => {
    // Prepare: a customer of the simulator and its balance
    const { simulatorUrl } = (await (await fetch(`${run.base}/health`)).json()) as {
      simulatorUrl: string;
    };
    const customers = async () =>
      (await (await fetch(`${simulatorUrl}/_sim/customers`)).json()) as {
        customerId: string;
        balanceMb: string;
      }[];
    const [victim] = await customers();
    if (!victim) throw new Error('the simulator has no customer');
    const topUp = JSON.stringify({ customerId: victim.customerId, mb: '1048576' });

    // Act: a form-like text/plain POST from another site, a rebinding Host, a cross-site fetch
    const fromOrigin = await raw(`${simulatorUrl}/_sim/customers/topup`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', origin: 'https://attacker.example' },
      body: topUp,
    });
    const crossSite = await raw(`${simulatorUrl}/_sim/customers/topup`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'sec-fetch-site': 'cross-site' },
      body: topUp,
    });
    const rebound = await raw(`${simulatorUrl}/_sim/state`, {
      headers: { host: `rebind.example:${new URL(simulatorUrl).port}` },
    });

    // Assess
    expect([fromOrigin.status, crossSite.status, rebound.status]).toEqual([403, 403, 403]);
    const after = (await customers()).find((c) => c.customerId === victim.customerId);
    expect(after?.balanceMb).toBe(victim.balanceMb);
  });

  it('refuses a GET /webhooks/epay a browser sends for another site', async () => {
    const url = `${run.base}/webhooks/epay?pid=1001&trade_no=1&out_trade_no=1&money=38&trade_status=TRADE_SUCCESS`;
    const crossSite = await fetch(url, { headers: { 'sec-fetch-site': 'cross-site' } });
    const fromOrigin = await fetch(url, { headers: { origin: 'https://attacker.example' } });
    const server = await fetch(url);
    expect([crossSite.status, fromOrigin.status]).toEqual([403, 403]);
    // epay's own server sends neither header: it reaches the function (which finds no signature).
    expect(server.status).not.toBe(403);
  });

  it("keeps the data directory its owner's only: folders 0700, files 0600", () => {
    const all = modes(run.dataDir);
    // The embedded DynamoDB's LevelDB files and the simulator's state are among them.
    expect(all).toEqual(expect.arrayContaining([expect.stringMatching(/^dynamodb\/.+ /)]));
    expect(all).toContain('simulator.json 600');
    expect((statSync(run.dataDir).mode & 0o777).toString(8)).toBe('700');
    for (const line of all) expect(line).toMatch(/ (700|600)$/);
  });

  it('lets the CLI find it through runtime.json, confirmed by the token on /health', async () => {
    const status = await flowpilot(['status', '--json'], ROOT, { FLOWPILOT_DATA_DIR: run.dataDir });
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
  });
});

describe('local runtime security: npm start with HOST=::1', () => {
  let run: Running;
  beforeAll(async () => {
    run = await npmStart({ HOST: '::1' }, true, '[::1]');
  }, 120_000);
  afterAll(async () => {
    if (run) await stop(run);
  });

  it('writes a URL the CLI can use into runtime.json, and keeps the Stripe stand-in on loopback', async () => {
    const info = JSON.parse(readFileSync(join(run.dataDir, 'runtime.json'), 'utf8'));
    expect(info.httpUrl).toBe(`http://[::1]:${run.port}`);
    const status = await flowpilot(['status', '--json'], ROOT, { FLOWPILOT_DATA_DIR: run.dataDir });
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    const standIn = standInOf(run.output());
    expect(standIn.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${standIn.url}/v1/payment_intents`, {
      headers: { authorization: `Bearer ${standIn.key}` },
    });
    expect(res.status).toBe(200);
  });
});

describe('CLI and a planted runtime.json', () => {
  let recorder: Server;
  let recorderUrl: string;
  const seen: string[] = [];
  beforeAll(async () => {
    recorder = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${JSON.stringify(req.headers)}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"code":200,"data":{"rows":[],"total":0}}');
    });
    await new Promise<void>((r) => recorder.listen(0, '127.0.0.1', r));
    const address = recorder.address();
    recorderUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(() => new Promise<void>((r) => recorder.close(() => r())));

  it('never sends the token from the environment to a host the file names', async () => {
    // Prepare: pid 1 is alive (and someone else's); the URLs lead to the recorder.
    const dir = mkdtempSync(join(tmpdir(), 'fp-planted-'));
    writeRuntimeInfo(join(dir, '.data'), {
      pid: 1,
      dynamoEndpoint: inject('dynamoEndpoint'),
      tableName: 'planted',
      upstreamBaseUrl: `${recorderUrl}/prod-api`,
      httpUrl: recorderUrl,
      localToken: 'planted-token-0123456789',
    });
    const secret = `real-agent-token-${randomBytes(8).toString('hex')}`;

    // Act
    const ran = await flowpilot(['reconcile'], dir, { IPWEB_TOKEN: secret });

    // Assess
    expect(seen.join('\n')).not.toContain(secret);
    expect(ran.code).not.toBe(0);
    expect(ran.stderr).toContain('no FlowPilot data in');
  });
});

describe('local runtime security: npm start with the real upstream', () => {
  let sim: Simulator;
  let configDir: string;
  beforeAll(async () => {
    sim = await startSimulator({ seedData: true });
    configDir = mkdtempSync(join(tmpdir(), 'fp-real-'));
  });
  afterAll(() => sim.close());

  const writeConfig = (config: unknown) => {
    const file = join(configDir, `${randomBytes(4).toString('hex')}.json`);
    writeFileSync(file, JSON.stringify(config));
    return file;
  };
  const real = () => ({ IPWEB_BASE_URL: sim.url, IPWEB_TOKEN: sim.token });

  it('refuses an http:// upstream unless upstream.allowInsecureHttp says so', async () => {
    const run = await npmStart(real(), false);
    expect(await run.exited).not.toBe(0);
    expect(run.output()).toMatch(
      /upstream\.baseUrl: http:\/\/.* would send the upstream token in clear/,
    );
    expect(run.output()).not.toContain('FlowPilot is running');
  });

  it('refuses to start with a public development secret', async () => {
    const run = await npmStart(
      {
        ...real(),
        FLOWPILOT_CONFIG: writeConfig({ upstream: { allowInsecureHttp: true } }),
        STRIPE_WEBHOOK_SECRET: LOCAL_DEV_SECRETS.STRIPE_WEBHOOK_SECRET,
      },
      false,
    );
    expect(await run.exited).not.toBe(0);
    expect(run.output()).toMatch(/STRIPE_WEBHOOK_SECRET holds the public local development value/);
  });

  it('refuses a full live Stripe secret key unless payments.stripe.allowSecretKey says so', async () => {
    const key = `sk_live_${randomBytes(12).toString('hex')}`;
    const run = await npmStart(
      {
        ...real(),
        FLOWPILOT_CONFIG: writeConfig({ upstream: { allowInsecureHttp: true } }),
        STRIPE_API_BASE_URL: 'https://api.stripe.com',
        STRIPE_READ_KEY: key,
      },
      false,
    );
    expect(await run.exited).not.toBe(0);
    expect(run.output()).toMatch(/STRIPE_READ_KEY is a full secret key \(sk_live_\.\.\.\)/);
    expect(run.output()).toContain('payments.stripe.allowSecretKey');
    expect(run.output()).not.toContain(key);
  });

  it('has no development secret and no demo package: signed demo payments get 404 and demo:payment refuses', async () => {
    // Prepare: Stripe enabled, but no secret given.
    const run = await npmStart({
      ...real(),
      FLOWPILOT_CONFIG: writeConfig({
        upstream: { allowInsecureHttp: true },
        payments: { providers: ['stripe'] },
      }),
    });
    try {
      const paid = devPayment();

      // Act
      const stripe = await fetch(`${run.base}/webhooks/stripe`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': paid.signature },
        body: paid.payload,
      });
      const epay = await fetch(`${run.base}/webhooks/epay?a=1`, { method: 'POST' });
      const demo = await new Promise<{ code: number | null; out: string }>((done) => {
        execFile(
          'npm',
          ['run', 'demo:payment'],
          { cwd: ROOT, env: { ...process.env, PORT: String(run.port) } },
          (err, stdout, stderr) =>
            done({ code: err ? (err.code as number) : 0, out: `${stdout}${stderr}` }),
        );
      });

      // Assess
      expect([stripe.status, epay.status]).toEqual([404, 404]);
      expect(demo.code).not.toBe(0);
      expect(demo.out).toContain('uses the real upstream');
      expect(run.output()).not.toMatch(/local development values|demo-10gb|demo:payment/);
      // No Stripe stand-in where traffic is real: its charges would credit real traffic.
      expect(run.output()).not.toContain('Stripe stand-in');
      expect(run.output()).toMatch(
        /stripe {7}none: auto top-up and Checkout opt-ins are off \(with the real upstream set STRIPE_API_BASE_URL/,
      );
      expect(sim.ledger()).toEqual([]);
    } finally {
      await stop(run);
    }
  }, 120_000);
});

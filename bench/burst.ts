/**
 * 1,000 paid orders in one minute through the webhook route's throttle: what each provider
 * sees. First in virtual time, for the route limits the stack deploys and the previous ones:
 * API Gateway's token bucket (rate per second, burst) in front of each provider's own retry
 * schedule, counting 429s, orders a provider gives up on, and when the last one got through.
 * Then, with `--live`, the same minute for real against `npm start` (the simulator, epay, the
 * provider that retries least): every delivery through the same token bucket, every order
 * credited exactly once.
 *
 *   npx tsx bench/burst.ts [--live]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WEBHOOK_ROUTE_THROTTLE } from '../infra/constructs/webhook-api.ts';
import { signedEpayPayment } from '../scripts/demo-signing.ts';
import { freePort } from '../scripts/dynamodb-local.ts';

const ORDERS = 1_000;
const WINDOW_S = 60;
/** A sharper burst too: a sale's first seconds. */
const SHARP_S = 10;

interface Throttle {
  rateLimit: number;
  burstLimit: number;
}
const THROTTLES: { name: string; t: Throttle }[] = [
  { name: 'before (10/s, burst 20)', t: { rateLimit: 10, burstLimit: 20 } },
  {
    name: `deployed (${WEBHOOK_ROUTE_THROTTLE.rateLimit}/s, burst ${WEBHOOK_ROUTE_THROTTLE.burstLimit})`,
    t: WEBHOOK_ROUTE_THROTTLE,
  },
];

/** Seconds after a failed attempt that the provider tries again; the list ends where it gives up. */
const doubling = (from: number, untilS: number) => {
  const out: number[] = [];
  for (let d = from, sum = 0; sum + d <= untilS; sum += d, d *= 2) out.push(d);
  return out;
};
const RETRIES: Record<string, { after: number[]; source: string }> = {
  stripe: {
    // Stripe publishes "up to three days, exponential backoff", not the intervals.
    after: doubling(60, 3 * 86_400),
    source:
      'Stripe: exponential backoff for up to 3 days (intervals modelled as doubling from 1 min)',
  },
  standard: {
    after: [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000],
    source: 'Standard Webhooks senders (Svix schedule): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h',
  },
  epay: {
    // 彩虹易支付 installations differ; the common Chinese payment-centre schedule starts
    // 15/15/30/180 s and many stop there.
    after: [15, 15, 30, 180],
    source: 'epay: 15 s, 15 s, 30 s, 180 s, then gives up (the shortest schedule seen)',
  },
};

/** API Gateway's token bucket: `take(t)` at time t (seconds) is true when a token was left. */
function bucket(t: Throttle) {
  let tokens = t.burstLimit;
  let at = 0;
  return (now: number) => {
    tokens = Math.min(t.burstLimit, tokens + (now - at) * t.rateLimit);
    at = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };
}

interface Outcome {
  firstTry429: number;
  attempts429: number;
  gaveUp: number;
  lastThroughS: number;
}

/** Orders arrive evenly over the minute; attempts are taken in time order, as a gateway would. */
function simulate(t: Throttle, retryAfter: number[], windowS: number): Outcome {
  const take = bucket(t);
  // [time, order, attempt]
  const queue: [number, number, number][] = Array.from({ length: ORDERS }, (_, i) => [
    (i * windowS) / ORDERS,
    i,
    0,
  ]);
  const out: Outcome = { firstTry429: 0, attempts429: 0, gaveUp: 0, lastThroughS: 0 };
  while (queue.length) {
    queue.sort((a, b) => a[0] - b[0]);
    const next = queue.shift();
    if (!next) break;
    const [at, order, attempt] = next;
    if (take(at)) {
      out.lastThroughS = Math.max(out.lastThroughS, at);
      continue;
    }
    out.attempts429 += 1;
    if (attempt === 0) out.firstTry429 += 1;
    const wait = retryAfter[attempt];
    if (wait === undefined) out.gaveUp += 1;
    else queue.push([at + wait, order, attempt + 1]);
  }
  return out;
}

const human = (s: number) =>
  s < 120
    ? `${s.toFixed(0)} s`
    : s < 7_200
      ? `${(s / 60).toFixed(0)} min`
      : `${(s / 3_600).toFixed(1)} h`;

process.stdout.write(`${ORDERS} paid orders, one delivery each, evenly over the window:\n\n`);
process.stdout.write(
  '| window | route throttle | provider | 429 on first try | 429s in all | gave up | last one through |\n',
);
process.stdout.write('|---|---|---|---:|---:|---:|---:|\n');
for (const windowS of [WINDOW_S, SHARP_S]) {
  for (const { name, t } of THROTTLES) {
    for (const [provider, r] of Object.entries(RETRIES)) {
      const o = simulate(t, r.after, windowS);
      process.stdout.write(
        `| ${windowS} s | ${name} | ${provider} | ${o.firstTry429} | ${o.attempts429} | ${o.gaveUp} | ${human(o.lastThroughS)} |\n`,
      );
    }
  }
}
process.stdout.write(
  `\n${Object.values(RETRIES)
    .map((r) => `- ${r.source}`)
    .join('\n')}\n`,
);

if (process.argv.includes('--live')) await live();

/** The minute for real: epay deliveries through the deployed bucket into npm start. */
async function live(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flowpilot-burst-'));
  const port = await freePort();
  const simulatorPort = await freePort();
  const key = 'burst-bench-epay-key-0001';
  const child: ChildProcess = spawn('npm', ['start'], {
    env: {
      ...process.env,
      PORT: String(port),
      SIMULATOR_PORT: String(simulatorPort),
      FLOWPILOT_DATA_DIR: dataDir,
      EPAY_KEY: key,
      LOG_FORMAT: 'json',
      POWERTOOLS_LOG_LEVEL: 'WARN',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
    detached: true,
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    let health: { simulatorUrl?: string } = {};
    for (let i = 0; i < 600 && !health.simulatorUrl; i++) {
      await new Promise((r) => setTimeout(r, 200));
      health = (await fetch(`${base}/health`)
        .then((r) => r.json())
        .catch(() => ({}))) as typeof health;
    }
    if (!health.simulatorUrl) throw new Error('npm start did not come up');
    // Traffic for every order: the demo pool would run dry after a few dozen 10 GB top-ups,
    // and each refused recharge would be a retry, not the throttle's doing.
    const pool = { rechargedMb: 1e12, consumedMb: 0, residualMb: 1e12 };
    for (const id of ['primary', 'secondary']) {
      const res = await fetch(`${health.simulatorUrl}/_sim/pools/${id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(pool),
      });
      if (!res.ok) throw new Error(`simulator pool ${id}: ${res.status} ${await res.text()}`);
    }
    const take = bucket(WEBHOOK_ROUTE_THROTTLE);
    const start = performance.now();
    const latencies: number[] = [];
    let throttled = 0;
    const failed: number[] = [];
    const sends: Promise<void>[] = [];
    for (let i = 0; i < ORDERS; i++) {
      const due = (i * WINDOW_S * 1000) / ORDERS;
      const wait = due - (performance.now() - start);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      sends.push(
        (async () => {
          const paymentId = `burst-${i}-${Date.now()}`;
          for (const [attempt, after] of [0, ...(RETRIES.epay?.after ?? [])].entries()) {
            if (attempt > 0) await new Promise((r) => setTimeout(r, after * 1000));
            if (!take((performance.now() - start) / 1000)) {
              throttled += 1;
              continue;
            }
            const req = signedEpayPayment({
              key,
              pid: '1001',
              paymentId,
              customerId: String(1001 + (i % 5)),
              packageId: 'demo-10gb-cny',
              quantity: 1,
              amountMinor: 3800,
            });
            const t = performance.now();
            const res = await fetch(`${base}${req.path}`, {
              method: 'POST',
              headers: req.headers,
              body: req.body,
            });
            latencies.push(performance.now() - t);
            if (res.ok) return;
          }
          failed.push(i);
        })(),
      );
    }
    await Promise.all(sends);
    const wallS = (performance.now() - start) / 1000;
    const ledger = (await (await fetch(`${health.simulatorUrl}/_sim/ledger`)).json()) as unknown[];
    latencies.sort((a, b) => a - b);
    const q = (p: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
    process.stdout.write(
      `\nlive, npm start with the simulator, epay, ${WEBHOOK_ROUTE_THROTTLE.rateLimit}/s burst ${WEBHOOK_ROUTE_THROTTLE.burstLimit}: ` +
        `${ORDERS} orders in ${wallS.toFixed(1)} s, ${throttled} throttled attempts, ${failed.length} never answered 2xx, ` +
        `${ledger.length} recharges at the upstream (exactly one per order: ${ledger.length === ORDERS ? 'yes' : 'NO'}), ` +
        `latency p50 ${q(0.5).toFixed(0)} ms, p99 ${q(0.99).toFixed(0)} ms\n`,
    );
  } finally {
    if (child.pid) process.kill(-child.pid, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 1000));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

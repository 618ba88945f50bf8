/**
 * What FlowPilot costs per month, measured: each size runs in its own process
 * (bench/cost/measure.ts: the real handlers, DynamoDB Local, the simulator), a day's first
 * hour and a steady hour at the default schedules plus webhook samples (a day is the first
 * and 23 steady ones); this file prices the month with
 * bench/prices.json and the stack's own resources (synthesised here, bundling skipped).
 * 100,000 customers are projected from the measured sizes (a straight line through them per
 * function and figure), and the output says so.
 *
 *   npx tsx bench/cost.ts            1,000 and 10,000 measured, 100,000 projected
 *   npx tsx bench/cost.ts --fast     1,000 measured (CI), 10,000 and 100,000 projected
 *   npm run bench -- cost            the same as the first
 *   npx tsx bench/cost.ts --from=m.json   a saved output of bench/cost/measure.ts instead of
 *                                         measuring (repeatable; its sizes are the measured)
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig } from '../functions/commons/config/load.ts';
import { FlowPilotStack } from '../infra/stack.ts';
import { ASSUMPTIONS, MEMORY_MB, RUNS_PER_MONTH } from './cost/assumptions.ts';

const FAST = process.argv.includes('--fast');
const SAVED = process.argv.filter((a) => a.startsWith('--from=')).map((a) => a.slice(7));
const MEASURED = SAVED.length > 0 ? [] : FAST ? [1_000] : [1_000, 10_000];
const SIZES = [1_000, 10_000, 100_000];
const SAMPLE = FAST ? 20 : 60;

interface Usage {
  invocations: number;
  ms: number;
  rru: number;
  wru: number;
  wruByKind: Record<string, number>;
  logBytes: number;
  requests: Record<string, number>;
}
interface Measurement {
  customers: number;
  activeThisHour: number;
  /** The steady hour's (with the webhook samples and a reconcile run). */
  handoffs: number;
  hourWallMs: number;
  functions: Record<string, Usage>;
  /** The first hour of a day: every balance with usage in the window is written once. */
  firstHourOfDay: { handoffs: number; hourWallMs: number; functions: Record<string, Usage> };
  webhookAnswers: number[];
  metrics: string[];
  storage: Record<string, { items: number; bytes: number }>;
}

const prices = JSON.parse(readFileSync(join(import.meta.dirname, 'prices.json'), 'utf8')) as {
  asOf: string;
  region: string;
  prices: Record<string, { usd: number; per: string; source: string }>;
};
const price = (key: string): number => {
  const p = prices.prices[key];
  if (!p) throw new Error(`bench/prices.json has no ${key}`);
  return p.usd;
};

function measure(customers: number): Measurement {
  const t = Date.now();
  const run = spawnSync(
    'npx',
    ['tsx', join(import.meta.dirname, 'cost', 'measure.ts'), String(customers), String(SAMPLE)],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  const line = run.stdout.trim().split('\n').at(-1) ?? '';
  if (run.status !== 0 || !line.startsWith('{')) {
    // The measuring process prints its own failure (a handler past its deadline) on stdout.
    process.stderr.write(`${run.stderr}${run.stdout.slice(-2000)}`);
    throw new Error(`measuring ${customers} customers failed (exit ${run.status})`);
  }
  process.stdout.write(
    `measured ${customers.toLocaleString('en-US')} customers in ${((Date.now() - t) / 1000).toFixed(0)} s\n`,
  );
  return JSON.parse(line) as Measurement;
}

/** Per invocation of one function: the measured averages. */
type PerRun = { ms: number; rru: number; wru: number; logBytes: number; requests: number };
function perRun(u: Usage | undefined): PerRun {
  const n = u?.invocations || 1;
  const requests = Object.values(u?.requests ?? {}).reduce((a, b) => a + b, 0);
  return {
    ms: (u?.ms ?? 0) / n,
    rru: (u?.rru ?? 0) / n,
    wru: (u?.wru ?? 0) / n,
    logBytes: (u?.logBytes ?? 0) / n,
    requests: requests / n,
  };
}

type Fn = keyof typeof MEMORY_MB;
interface Month {
  invocations: Record<Fn, number>;
  perRun: Record<Fn, PerRun>;
  storageGb: number;
  metrics: number;
  snsPublishes: number;
}

/** Hours of a day that are steady: the first one after the day turns is heavier. */
const STEADY_HOURS = 23;

/** The hourly functions over a day: the first hour once, the steady hour 23 times. */
function dayOf(m: Measurement): Record<string, Usage> {
  const out: Record<string, Usage> = { ...m.functions };
  for (const [fn, d] of Object.entries(m.firstHourOfDay.functions)) {
    const s = m.functions[fn];
    const scaled = (k: 'invocations' | 'ms' | 'rru' | 'wru' | 'logBytes') =>
      d[k] + STEADY_HOURS * (s?.[k] ?? 0);
    const merged: Record<string, number> = {};
    for (const src of [d.requests, s?.requests ?? {}]) {
      const w = src === d.requests ? 1 : STEADY_HOURS;
      for (const [k, v] of Object.entries(src)) merged[k] = (merged[k] ?? 0) + w * v;
    }
    out[fn] = {
      invocations: scaled('invocations'),
      ms: scaled('ms'),
      rru: scaled('rru'),
      wru: scaled('wru'),
      logBytes: scaled('logBytes'),
      wruByKind: {},
      requests: merged,
    };
  }
  return out;
}

/** The month of one measured size. */
function monthOf(m: Measurement): Month {
  const f = dayOf(m);
  const fresh = perRun(f['webhook-fresh']);
  const dup = perRun(f['webhook-duplicate']);
  const deliveriesFresh = m.customers * ASSUMPTIONS.topupsPerCustomer;
  const deliveriesDup = deliveriesFresh * (ASSUMPTIONS.deliveriesPerTopup - 1);
  const deliveries = deliveriesFresh + deliveriesDup;
  const mix = (k: keyof PerRun) =>
    (fresh[k] * deliveriesFresh + dup[k] * deliveriesDup) / deliveries;
  // A day is the first hour and 23 steady ones.
  const handoffsPerMonth = (m.firstHourOfDay.handoffs + STEADY_HOURS * m.handoffs) * 30;
  // Usage rows are kept for retentionDays; the rest is one item or a few per customer or order.
  const usageKinds = ['USAGE', 'DAY'];
  let bytes = 0;
  for (const [kind, s] of Object.entries(m.storage)) {
    bytes += usageKinds.includes(kind)
      ? (s.bytes / ASSUMPTIONS.historyDays) * ASSUMPTIONS.retentionDays
      : s.bytes;
  }
  return {
    invocations: {
      'poll-totals': RUNS_PER_MONTH['poll-totals'],
      'poll-usage': RUNS_PER_MONTH['poll-usage'],
      'poll-customers': RUNS_PER_MONTH['poll-customers'],
      'customer-actions': handoffsPerMonth,
      reconcile: RUNS_PER_MONTH.reconcile,
      'payment-webhook': deliveries,
    },
    perRun: {
      'poll-totals': perRun(f['poll-totals']),
      'poll-usage': perRun(f['poll-usage']),
      'poll-customers': perRun(f['poll-customers']),
      'customer-actions': perRun(f['customer-actions']),
      reconcile: perRun(f.reconcile),
      'payment-webhook': {
        ms: mix('ms'),
        rru: mix('rru'),
        wru: mix('wru'),
        logBytes: mix('logBytes'),
        requests: mix('requests'),
      },
    },
    storageGb: bytes / 1024 ** 3,
    metrics: m.metrics.length,
    snsPublishes: handoffsPerMonth,
  };
}

/**
 * Another size from the measured ones: with two sizes, a straight line through them per
 * figure; with one, the figures that grow with customers (the polls' and customer-actions'
 * work per run, webhook deliveries, storage) in proportion, the rest as measured.
 */
const GROWS: ReadonlySet<Fn> = new Set(['poll-usage', 'poll-customers', 'customer-actions']);
function project(months: { n: number; month: Month }[], n: number): Month {
  const [a, b] = months;
  if (!a) throw new Error('nothing measured');
  const line = (pick: (m: Month) => number, grows: boolean): number => {
    if (!b) return grows ? (pick(a.month) / a.n) * n : pick(a.month);
    const slope = (pick(b.month) - pick(a.month)) / (b.n - a.n);
    return Math.max(0, pick(a.month) + slope * (n - a.n));
  };
  const fns = Object.keys(MEMORY_MB) as Fn[];
  const keys: (keyof PerRun)[] = ['ms', 'rru', 'wru', 'logBytes', 'requests'];
  return {
    invocations: Object.fromEntries(
      fns.map((fn) => [fn, line((m) => m.invocations[fn], fn === 'payment-webhook')]),
    ) as Month['invocations'],
    perRun: Object.fromEntries(
      fns.map((fn) => [
        fn,
        Object.fromEntries(keys.map((k) => [k, line((m) => m.perRun[fn][k], GROWS.has(fn))])),
      ]),
    ) as Month['perRun'],
    storageGb: line((m) => m.storageGb, true),
    metrics: a.month.metrics,
    snsPublishes: line((m) => m.snsPublishes, false),
  };
}

/** Counts of the stack's fixed resources, from a synthesis without bundling. */
function stackResources() {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new FlowPilotStack(app, 'FlowPilot', { config: parseConfig({}) });
  const t = Template.fromStack(stack).toJSON() as {
    Resources: Record<string, { Type: string }>;
  };
  const count = (type: string) => Object.values(t.Resources).filter((r) => r.Type === type).length;
  return {
    alarms: count('AWS::CloudWatch::Alarm'),
    dashboards: count('AWS::CloudWatch::Dashboard'),
    keys: count('AWS::KMS::Key'),
    secrets: count('AWS::SecretsManager::Secret'),
  };
}

interface Line {
  name: string;
  kind: 'variable' | 'messaging' | 'fixed';
  usd: number;
  how: string;
}

function price_month(n: number, m: Month, fixed: ReturnType<typeof stackResources>): Line[] {
  const fns = Object.keys(MEMORY_MB) as Fn[];
  const sum = (f: (fn: Fn) => number) => fns.reduce((a, fn) => a + f(fn), 0);
  const invocations = sum((fn) => m.invocations[fn]);
  const gbs = sum((fn) => (m.invocations[fn] * m.perRun[fn].ms * MEMORY_MB[fn]) / 1024 / 1000);
  const rru = sum((fn) => m.invocations[fn] * m.perRun[fn].rru);
  const wru = sum((fn) => m.invocations[fn] * m.perRun[fn].wru);
  const logGb =
    sum((fn) => m.invocations[fn] * (m.perRun[fn].logBytes + ASSUMPTIONS.platformLogBytes)) /
    1024 ** 3;
  const webhooks = m.invocations['payment-webhook'];
  // Each warm container reads its secrets at most once per cache lifetime: an upper bound of
  // one read per invocation, capped by the month's cache lifetimes per secret it reads.
  const lifetimes = (30 * 24 * 60) / ASSUMPTIONS.secretCacheMinutes;
  const secretCalls =
    sum((fn) => Math.min(m.invocations[fn], lifetimes)) +
    Math.min(webhooks, lifetimes); /* the webhook reads its signing secret too */
  const publishes = m.snsPublishes + ASSUMPTIONS.alertEmails;
  const kmsRequests = secretCalls + publishes;
  const f = (x: number, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d });
  return [
    {
      name: 'DynamoDB writes',
      kind: 'variable',
      usd: wru * price('dynamoWriteUnit'),
      how: `${f(wru)} WRU`,
    },
    {
      name: 'DynamoDB reads',
      kind: 'variable',
      usd: rru * price('dynamoReadUnit'),
      how: `${f(rru)} RRU`,
    },
    {
      name: 'DynamoDB storage + PITR',
      kind: 'variable',
      usd: m.storageGb * (price('dynamoStorageGbMonth') + price('dynamoPitrGbMonth')),
      how: `${f(m.storageGb, 2)} GB`,
    },
    {
      name: 'Lambda compute',
      kind: 'variable',
      usd: gbs * price('lambdaGbSecondArm'),
      how: `${f(gbs)} GB-s`,
    },
    {
      name: 'Lambda requests',
      kind: 'variable',
      usd: invocations * price('lambdaRequest'),
      how: `${f(invocations)} invocations`,
    },
    {
      name: 'HTTP API',
      kind: 'variable',
      usd: webhooks * price('httpApiRequest'),
      how: `${f(webhooks)} requests`,
    },
    {
      name: 'CloudWatch Logs',
      kind: 'variable',
      usd: logGb * (price('logsIngestGb') + price('logsStoreGbMonth')),
      how: `${f(logGb, 3)} GB`,
    },
    {
      name: 'X-Ray traces',
      kind: 'variable',
      usd: invocations * price('xrayTrace'),
      how: `${f(invocations)} traces (all sampled, upper bound)`,
    },
    {
      name: 'Secrets Manager calls',
      kind: 'variable',
      usd: secretCalls * price('secretCall'),
      how: `${f(secretCalls)} calls`,
    },
    {
      name: 'KMS requests',
      kind: 'variable',
      usd: kmsRequests * price('kmsRequest'),
      how: `${f(kmsRequests)} requests`,
    },
    {
      name: 'SNS publishes',
      kind: 'variable',
      usd: publishes * price('snsPublish'),
      how: `${f(publishes)} publishes`,
    },
    {
      name: 'SES customer email',
      kind: 'messaging',
      usd: n * ASSUMPTIONS.emailsPerCustomer * price('sesEmail'),
      how: `${f(n * ASSUMPTIONS.emailsPerCustomer)} emails`,
    },
    {
      name: 'SNS alert email',
      kind: 'messaging',
      usd: ASSUMPTIONS.alertEmails * price('snsEmail'),
      how: `${ASSUMPTIONS.alertEmails} emails`,
    },
    {
      name: 'SMS (critical alerts) + number',
      kind: 'messaging',
      usd: ASSUMPTIONS.alertSms * price('smsUs') + price('tollFreeNumberMonth'),
      how: `${ASSUMPTIONS.alertSms} SMS, 1 toll-free number`,
    },
    {
      name: 'CloudWatch alarms',
      kind: 'fixed',
      usd: fixed.alarms * price('alarmMonth'),
      how: `${fixed.alarms} alarms`,
    },
    {
      name: 'CloudWatch dashboard',
      kind: 'fixed',
      usd: fixed.dashboards * price('dashboardMonth'),
      how: `${fixed.dashboards} dashboard`,
    },
    {
      name: 'Custom metrics (EMF)',
      kind: 'fixed',
      usd: m.metrics * price('customMetricMonth'),
      how: `${m.metrics} metrics emitted`,
    },
    {
      name: 'KMS keys',
      kind: 'fixed',
      usd: fixed.keys * price('kmsKeyMonth'),
      how: `${fixed.keys} keys`,
    },
    {
      name: 'Secrets',
      kind: 'fixed',
      usd: fixed.secrets * price('secretMonth'),
      how: `${fixed.secrets} secrets`,
    },
  ];
}

const usd = (x: number) => (x < 0.005 ? '0.00' : x.toFixed(2));
const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);

const measured = [
  ...SAVED.map((file) => {
    const m = JSON.parse(readFileSync(file, 'utf8').trim().split('\n').at(-1) ?? '') as Measurement;
    return { n: m.customers, m };
  }),
  ...MEASURED.map((n) => ({ n, m: measure(n) })),
].sort((a, b) => a.n - b.n);
const months = measured.map(({ n, m }) => ({ n, month: monthOf(m) }));
const fixed = stackResources();
const bySize = SIZES.map((n) => {
  const hit = months.find((x) => x.n === n);
  return { n, projected: !hit, lines: price_month(n, hit?.month ?? project(months, n), fixed) };
});

const out: string[] = [];
out.push(
  `\nFlowPilot per month, USD (${prices.region} on-demand prices of ${prices.asOf}, bench/prices.json; free tiers left out)`,
);
out.push(
  `assumptions: ${ASSUMPTIONS.topupsPerCustomer} top-ups per customer, ${ASSUMPTIONS.deliveriesPerTopup} deliveries each, ${ASSUMPTIONS.activeShare * 100} % of customers active per hour, ${ASSUMPTIONS.emailsPerCustomer} customer emails each, default schedules; a day is its first hour (every balance with usage written once) and ${STEADY_HOURS} steady hours, both measured`,
);
const head = `| ${pad('line', 32)} | ${SIZES.map((n) => lpad(`${(n / 1000).toFixed(0)}k${bySize.find((b) => b.n === n)?.projected ? ' (proj.)' : ''}`, 13)).join(' | ')} |`;
out.push('', head, `|${'-'.repeat(34)}|${SIZES.map(() => `${'-'.repeat(14)}:`).join('|')}|`);
const names = bySize[0]?.lines.map((l) => l.name) ?? [];
for (const name of names) {
  const cells = bySize.map((b) => usd(b.lines.find((l) => l.name === name)?.usd ?? 0));
  out.push(`| ${pad(name, 32)} | ${cells.map((c) => lpad(c, 13)).join(' | ')} |`);
}
const subtotal = (kind: Line['kind']) =>
  bySize.map((b) => b.lines.filter((l) => l.kind === kind).reduce((a, l) => a + l.usd, 0));
const totals: [string, number[]][] = [
  ['variable (without messaging)', subtotal('variable')],
  ["messaging (the agent's choice)", subtotal('messaging')],
  ['fixed', subtotal('fixed')],
];
totals.push(['total', SIZES.map((_, i) => totals.reduce((a, [, v]) => a + (v[i] ?? 0), 0))]);
for (const [name, v] of totals) {
  out.push(`| **${pad(name, 28)}** | ${v.map((x) => lpad(usd(x), 13)).join(' | ')} |`);
}
for (const b of bySize) {
  const top = [...b.lines].sort((x, y) => y.usd - x.usd).slice(0, 3);
  out.push(
    `${(b.n / 1000).toFixed(0)}k biggest: ${top.map((l) => `${l.name} $${usd(l.usd)} (${l.how})`).join('; ')}`,
  );
}
const goal = subtotal('variable')[1] ?? 0;
out.push(`goal: variable ≤ $5.00 at 10k customers: $${usd(goal)} ${goal <= 5 ? '✓' : '✗'}`);

out.push('', 'per invocation, measured (the largest measured size):');
const last = measured.at(-1);
if (last) {
  out.push(
    `| function            | runs/month | ms     | RRU      | WRU      | DynamoDB requests | log bytes |`,
  );
  out.push(
    `|---------------------|-----------:|-------:|---------:|---------:|------------------:|----------:|`,
  );
  for (const [fn, u] of Object.entries(last.m.functions)) {
    const p = perRun(u);
    const runs = fn.startsWith('webhook')
      ? '-'
      : String(monthOf(last.m).invocations[fn as Fn] ?? '-');
    out.push(
      `| ${pad(fn, 19)} | ${lpad(runs, 10)} | ${lpad(p.ms.toFixed(0), 6)} | ${lpad(p.rru.toFixed(1), 8)} | ${lpad(p.wru.toFixed(1), 8)} | ${lpad(p.requests.toFixed(1), 17)} | ${lpad(p.logBytes.toFixed(0), 9)} |`,
    );
  }
  const kinds = (u: Usage) =>
    Object.entries(u.wruByKind)
      .sort(([, a], [, b]) => b - a)
      .map(([k, v]) => `${k} ${(v / (u.invocations || 1)).toFixed(1)}`)
      .join(', ');
  out.push('', 'WRU per invocation by the kind of item written (key prefixes), a steady hour:');
  for (const [fn, u] of Object.entries(last.m.functions)) {
    if (Object.keys(u.wruByKind).length) out.push(`  ${pad(fn, 19)} ${kinds(u)}`);
  }
  out.push("the day's first hour (every balance with usage in the window written once):");
  for (const [fn, u] of Object.entries(last.m.firstHourOfDay.functions)) {
    if (Object.keys(u.wruByKind).length) out.push(`  ${pad(fn, 19)} ${kinds(u)}`);
  }
  out.push(
    `the measured hour at ${last.n.toLocaleString('en-US')} customers (${last.m.activeThisHour} active): ${(last.m.hourWallMs / 1000).toFixed(1)} s of runs; webhook answers ${last.m.webhookAnswers.join(', ')}`,
  );
}
process.stdout.write(`${out.join('\n')}\n`);

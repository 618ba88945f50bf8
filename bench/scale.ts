/**
 * Point 3 of issue #29: poll-usage, poll-customers and customer-actions at 10,000 and 100,000
 * customers. Each size runs bench/cost/measure.ts in its own process (the real handlers with
 * Lambda's deadline counted down from the deployed timeouts, DynamoDB Local, the simulator
 * over HTTP): the first runs walk the stored history, handing over across invocations when the
 * deadline says so; then one hour at the default schedules. Printed per size: wall time,
 * DynamoDB requests and upstream calls per run, whether every invocation stays inside its
 * timeout and its schedule (no run overlaps the next), and freshness: how long after a
 * customer's usage changes upstream their balance (and a low notice) reflects it.
 * Sizes not measured are projected on a line through the measured ones, and say so.
 *
 *   npx tsx bench/scale.ts                 10,000 measured, 100,000 projected
 *   npx tsx bench/scale.ts 10000 100000    both measured (100k takes long: run under nice)
 *   npx tsx bench/scale.ts --from=m.json   a saved output of bench/cost/measure.ts (repeatable)
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../functions/commons/config/load.ts';
import { FUNCTION_TIMEOUT_SECONDS } from '../infra/limits.ts';

const SIZES = [10_000, 100_000];
const sizesArg = process.argv
  .slice(2)
  .filter((a) => /^\d+$/.test(a))
  .map(Number);
const saved = process.argv.filter((a) => a.startsWith('--from=')).map((a) => a.slice(7));
const MEASURED = sizesArg.length > 0 || saved.length > 0 ? sizesArg : [10_000];

/** The default schedules (functions/commons/config/schedules.ts), in seconds. */
const EVERY_S = { 'poll-usage': 3600, 'poll-customers': 900 } as const;
const FNS = ['poll-usage', 'poll-customers', 'customer-actions'] as const;
/** polling.safetyMarginMs's default: a run stops starting work this long before its deadline. */
const SAFETY_MARGIN_MS = parseConfig({}).polling.safetyMarginMs;
type Fn = (typeof FNS)[number];

interface Run {
  fn: string;
  phase: 'warm-up' | 'day-hour' | 'hour';
  ms: number;
  requests: number;
  upstreamCalls: number;
  ended?: string;
}
interface Figures {
  n: number;
  projected: boolean;
  /**
   * Per run of each function: the average over a steady hour, and the longest run of the
   * hours measured (the day's first hour writes every balance with usage once).
   */
  perRun: Record<
    Fn,
    { ms: number; maxMs: number; requests: number; upstreamCalls: number; runs: number }
  >;
  /**
   * The first runs over the history: invocations, the longest, and the work of all of them
   * (a projected size hands over at each deadline, as the polls do).
   */
  backfill: Record<
    'poll-usage' | 'poll-customers',
    { invocations: number; maxMs: number; totalMs: number }
  >;
}

function measure(customers: number): Figures {
  const t = Date.now();
  const run = spawnSync(
    'npx',
    ['tsx', join(import.meta.dirname, 'cost', 'measure.ts'), String(customers), '2'],
    { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
  );
  const line = run.stdout.trim().split('\n').at(-1) ?? '';
  if (run.status !== 0 || !line.startsWith('{')) {
    process.stderr.write(run.stderr);
    throw new Error(`measuring ${customers} customers failed (exit ${run.status})`);
  }
  process.stdout.write(
    `measured ${customers.toLocaleString('en-US')} customers in ${((Date.now() - t) / 1000).toFixed(0)} s\n`,
  );
  return figures(customers, line);
}

/** The figures of one output line of bench/cost/measure.ts. */
function figures(customers: number, line: string): Figures {
  const { runs } = JSON.parse(line) as { runs: Run[] };
  const of = (fn: string, phase: Run['phase']) =>
    runs.filter((r) => r.fn === fn && r.phase === phase);
  const avg = (rs: Run[], k: 'ms' | 'requests' | 'upstreamCalls') =>
    rs.length ? rs.reduce((a, r) => a + r[k], 0) / rs.length : 0;
  const perRun = Object.fromEntries(
    FNS.map((fn) => {
      const rs = of(fn, 'hour');
      return [
        fn,
        {
          ms: avg(rs, 'ms'),
          maxMs: Math.max(0, ...[...rs, ...of(fn, 'day-hour')].map((r) => r.ms)),
          requests: avg(rs, 'requests'),
          upstreamCalls: avg(rs, 'upstreamCalls'),
          runs: rs.length,
        },
      ];
    }),
  ) as Figures['perRun'];
  const backfill = Object.fromEntries(
    (['poll-usage', 'poll-customers'] as const).map((fn) => {
      const rs = of(fn, 'warm-up');
      return [
        fn,
        {
          invocations: rs.length,
          maxMs: Math.max(0, ...rs.map((r) => r.ms)),
          totalMs: rs.reduce((a, r) => a + r.ms, 0),
        },
      ];
    }),
  ) as Figures['backfill'];
  return { n: customers, projected: false, perRun, backfill };
}

/** A line through the measured sizes (a flat one through a single size: per customer). */
function project(measured: Figures[], n: number): Figures {
  const [a, b] = measured.length > 1 ? [measured[0], measured.at(-1)] : [undefined, measured[0]];
  if (!b) throw new Error('nothing measured');
  const at = (get: (f: Figures) => number) => {
    if (!a || a.n === b.n) return (get(b) * n) / b.n;
    const slope = (get(b) - get(a)) / (b.n - a.n);
    return Math.max(0, get(b) + slope * (n - b.n));
  };
  const perRun = Object.fromEntries(
    FNS.map((fn) => [
      fn,
      {
        ms: at((f) => f.perRun[fn].ms),
        // Two noisy lines may cross: the longest run is never shorter than the average one.
        maxMs: Math.max(
          at((f) => f.perRun[fn].maxMs),
          at((f) => f.perRun[fn].ms),
        ),
        requests: at((f) => f.perRun[fn].requests),
        // Upstream calls grow with pages, not customers one by one: the measured figure
        // at the largest size, scaled by the pages the rows fill.
        upstreamCalls: at((f) => f.perRun[fn].upstreamCalls),
        runs: b.perRun[fn].runs,
      },
    ]),
  ) as Figures['perRun'];
  // The backfill's work grows with the customers; each invocation stops its safety margin
  // before the deadline and the next scheduled one resumes.
  const handedOver = (fn: 'poll-usage' | 'poll-customers') => {
    const totalMs = at((f) => f.backfill[fn].totalMs);
    const slice = FUNCTION_TIMEOUT_SECONDS[fn] * 1000 - SAFETY_MARGIN_MS;
    return { invocations: Math.ceil(totalMs / slice), maxMs: Math.min(totalMs, slice), totalMs };
  };
  const backfill = {
    'poll-usage': handedOver('poll-usage'),
    'poll-customers': handedOver('poll-customers'),
  };
  return { n, projected: true, perRun, backfill };
}

const measured = [
  ...saved.map((file) => {
    const line = readFileSync(file, 'utf8').trim().split('\n').at(-1) ?? '';
    const f = figures((JSON.parse(line) as { customers: number }).customers, line);
    process.stdout.write(`read ${f.n.toLocaleString('en-US')} customers from ${file}\n`);
    return f;
  }),
  ...MEASURED.map(measure),
].sort((a, b) => a.n - b.n);
const all = [...new Set([...SIZES, ...MEASURED])]
  .sort((x, y) => x - y)
  .map((n) => measured.find((m) => m.n === n) ?? project(measured, n));

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const min = (ms: number) => `${(ms / 60_000).toFixed(0)} min`;
let ok = true;
for (const f of all) {
  console.log(
    `\n${f.n.toLocaleString('en-US')} customers${f.projected ? ' (projected from the measured sizes)' : ' (measured)'}`,
  );
  for (const fn of FNS) {
    const r = f.perRun[fn];
    console.log(
      `  ${fn.padEnd(17)} ${s(r.ms).padStart(9)} a run (longest ${s(r.maxMs)}), ${Math.round(r.requests).toLocaleString('en-US').padStart(7)} DynamoDB requests, ${Math.round(r.upstreamCalls)} upstream calls (${r.runs} runs in the hour)`,
    );
  }
  for (const fn of ['poll-usage', 'poll-customers'] as const) {
    const b = f.backfill[fn];
    const limit = FUNCTION_TIMEOUT_SECONDS[fn] * 1000;
    const inside = b.maxMs < limit;
    const steady = f.perRun[fn].maxMs < EVERY_S[fn] * 1000;
    ok &&= inside && steady;
    console.log(
      `  ${fn} first runs (3 days of history): ${b.invocations} invocation(s)${f.projected ? ', handing over at each deadline' : ''}, ${s(b.totalMs)} of work, longest ${s(b.maxMs)} ${inside ? '<' : '≥'} its ${FUNCTION_TIMEOUT_SECONDS[fn]} s timeout ${inside ? '✓' : '✗'}; ` +
        `a steady run ${steady ? 'ends before' : 'overlaps'} the next (every ${EVERY_S[fn] / 60} min) ${steady ? '✓' : '✗'}`,
    );
  }
  // Usage changes upstream at any time; poll-usage reads it at its next run, the next
  // poll-customers after that run sees the parts' new stamps (one starting with poll-usage at
  // the same minute may miss them), and customer-actions gets the change in that run.
  const { 'poll-usage': pu, 'poll-customers': pc, 'customer-actions': ca } = f.perRun;
  const worst =
    EVERY_S['poll-usage'] * 1000 + pu.maxMs + EVERY_S['poll-customers'] * 1000 + pc.maxMs;
  const mean =
    (EVERY_S['poll-usage'] * 1000) / 2 + pu.ms + (EVERY_S['poll-customers'] * 1000) / 2 + pc.ms;
  console.log(
    `  freshness: a balance reflects new usage within ${min(worst)} (on average ~${min(mean)}); a low notice ${s(ca.maxMs)} later`,
  );
}
console.log(
  `\n${ok ? '✓' : '✗'} every run inside its timeout and its schedule (the measured history is 3 days; a first run over 400 days hands over across invocations, bench/customer-balances.ts)`,
);
if (!ok) process.exitCode = 1;

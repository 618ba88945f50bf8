/**
 * What the webhook's speed idioms save per call, each against the plain code it replaces:
 * the logger's remembered INFO switch (functions/commons/logger.ts), the EMF document frames
 * (observability.ts), the currency formatter cache (money.ts) and the per-minute zone offset
 * (units.ts). A delivery calls each once or twice. The figures are per call, in µs, on this
 * machine; whether they matter is bench/webhook.ts's question (its p50 ratio goal).
 * Run: npx tsx bench/hot-path.perf.ts (HOT_PATH_CALLS to change the count).
 */
import { LogLevelThreshold } from '@aws-lambda-powertools/logger';
import { infoEnabled, logger } from '../functions/commons/logger.ts';
import { money } from '../functions/commons/money.ts';
import {
  emfDocument,
  METRICS_NAMESPACE,
  SERVICE_NAME,
} from '../functions/commons/observability.ts';
import { dayInZone } from '../functions/commons/units.ts';

const CALLS = Number(process.env.HOT_PATH_CALLS ?? 20_000);

/** µs per call, the median of 5 runs of CALLS calls after a warm-up run. */
function perCall(run: (i: number) => unknown): number {
  const times: number[] = [];
  for (let r = 0; r < 6; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i++) run(i);
    if (r > 0) times.push(Number(process.hrtime.bigint() - start) / 1000 / CALLS);
  }
  return times.sort((a, b) => a - b)[2] as number;
}

/** The document written whole, as observability.ts does for a name it cannot frame. */
function emfWhole(outcome: string, timestamp: number): string {
  return JSON.stringify({
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          Dimensions: [['service', 'Outcome']],
          Metrics: [{ Name: 'WebhookOutcome', Unit: 'Count' }],
        },
      ],
    },
    service: SERVICE_NAME,
    Outcome: outcome,
    WebhookOutcome: 1,
  });
}

const dayPlain = (t: Date) =>
  new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', dateStyle: 'short' }).format(t);
const now = Date.now();
const rows: [string, number, number][] = [
  [
    'logger INFO switch',
    perCall(() => logger.level <= LogLevelThreshold.INFO),
    perCall(() => infoEnabled()),
  ],
  [
    'EMF document',
    perCall((i) => emfWhole('credited', now + i)),
    perCall((i) => emfDocument('WebhookOutcome', 'Count', 1, ['Outcome', 'credited'], now + i)),
  ],
  [
    'currency format',
    perCall(() =>
      new Intl.NumberFormat('en-US', { style: 'currency', currency: 'CNY' }).format(38),
    ),
    perCall(() => money(3800, 'CNY')),
  ],
  [
    'day in a zone',
    perCall((i) => dayPlain(new Date(now + i))),
    perCall((i) => dayInZone(new Date(now + i), 'Asia/Shanghai')),
  ],
];
console.log(`µs per call (${CALLS} calls, median of 5)`);
console.log(
  `${'idiom'.padEnd(20)} ${'plain'.padStart(8)} ${'idiom'.padStart(8)} ${'saves'.padStart(8)}`,
);
for (const [name, plain, idiom] of rows) {
  const f = (n: number) => n.toFixed(2).padStart(8);
  console.log(`${name.padEnd(20)} ${f(plain)} ${f(idiom)} ${f(plain - idiom)}`);
}

/**
 * What alerting costs an operator and DynamoDB: a pool hovering one percentage point either
 * side of a 20 % warning for 40 polls, and a pool steadily low for 40 polls, with the issue's
 * baseline (resolve at once, no flap detection) and with the defaults. Prints notifications
 * sent and DynamoDB requests per poll, against DynamoDB Local.
 *
 *   npx tsx bench/alerts-hover.ts [polls]
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createAlerting, evaluateAfterTotalsPoll } from '../functions/commons/alerts/index.ts';
import { documentClient } from '../functions/commons/clients/dynamodb.ts';
import { type AlertsConfigInput, alertsSchema } from '../functions/commons/config/alerts.ts';
import type { AlertMessage } from '../functions/commons/notifier/types.ts';
import { ensureTable } from '../functions/commons/store/table.ts';
import { gbToMb } from '../functions/commons/units.ts';
import { startDynamoDbLocal } from '../scripts/dynamodb-local.ts';

const POLLS = Number(process.argv[2] ?? 40);
const T0 = new Date('2026-01-05T06:00:00Z');
const PERCENT_ONLY: AlertsConfigInput = {
  pools: {
    primary: {
      residualGb: { warning: 2, critical: 1 },
      residualPercent: { warning: 20, critical: 5 },
    },
  },
};

async function scenario(
  endpoint: string,
  name: string,
  config: AlertsConfigInput,
  residualGb: (poll: number) => number,
) {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const tableName = `bench-alerts-${randomUUID().slice(0, 8)}`;
  await ensureTable(client, tableName);
  const doc = documentClient(client);
  const counts: Record<string, number> = {};
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      const cmd = (context.commandName ?? 'unknown').replace(/Command$/, '');
      counts[cmd] = (counts[cmd] ?? 0) + 1;
      return next(args);
    },
    { step: 'initialize', name: 'benchCounts' },
  );
  let now = T0;
  const sent: AlertMessage[] = [];
  const { deps } = createAlerting({
    config: alertsSchema.parse(config),
    tableName,
    documentClient: doc,
    clock: () => now,
  });
  const alerting = { ...deps, notifier: { publish: async (m: AlertMessage) => void sent.push(m) } };
  const zero = { rechargedMb: gbToMb(0), consumedMb: gbToMb(0), residualMb: gbToMb(0) };
  for (let i = 0; i < POLLS; i++) {
    now = new Date(T0.getTime() + i * 5 * 60_000);
    const residual = residualGb(i);
    await evaluateAfterTotalsPoll(alerting, {
      outcome: {
        ok: true,
        at: now,
        pools: {
          primary: {
            rechargedMb: gbToMb(1000),
            consumedMb: gbToMb(1000 - residual),
            residualMb: gbToMb(residual),
          },
          secondary: zero,
        },
      },
      health: { consecutiveFailures: 0, lastSuccessAt: now },
    });
  }
  const perPoll = Object.entries(counts)
    .map(([cmd, n]) => `${cmd} ${(n / POLLS).toFixed(2)}`)
    .join(', ');
  console.log(
    `${name.padEnd(44)} notifications ${String(sent.length).padStart(3)}  ` +
      `[${sent.map((m) => m.attributes.kind).join(' ')}]`,
  );
  console.log(`${''.padEnd(44)} DynamoDB requests per poll: ${perPoll}`);
}

const hover = (i: number) => (i % 2 === 0 ? 190 : 210);
const db = await startDynamoDbLocal();
try {
  console.log(`${POLLS} polls, 5 minutes apart; warning at 20 % of 1,000 GB recharged`);
  const baseline = { ...PERCENT_ONLY, clearPolls: 1, flap: { enabled: false } };
  await scenario(db.endpoint, 'hover 19/21 %, baseline (issue #14)', baseline, hover);
  await scenario(db.endpoint, 'hover 19/21 %, defaults', PERCENT_ONLY, hover);
  await scenario(db.endpoint, 'steady 15 %, baseline', baseline, () => 150);
  await scenario(db.endpoint, 'steady 15 %, defaults', PERCENT_ONLY, () => 150);
  await scenario(db.endpoint, 'steady 50 % (all ok), defaults', PERCENT_ONLY, () => 500);
} finally {
  await db.stop();
}

/**
 * The customer page's view for a customer with 400 days of history (usage every day, a
 * top-up every 10 days): server time per view (the handler, from event to HTML) and DynamoDB
 * requests per view, against DynamoDB Local (or AWS_ENDPOINT_URL_DYNAMODB when set).
 * Run: npx tsx bench/portal-view.ts [views]
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type RunningDynamoDbLocal, startDynamoDbLocal } from '../scripts/dynamodb-local.ts';
import { exitOnMissedGoals, goal } from './goal.ts';

process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

const VIEWS = Number(process.argv[2] ?? 50);
const NOW = new Date('2026-11-20T04:00:00.000Z');

const { documentClient } = await import('../functions/commons/clients/dynamodb.ts');
const { ensureTable } = await import('../functions/commons/store/table.ts');
const { createPortalHandler } = await import('../functions/portal.ts');
const { portalKeys, signToken } = await import('../functions/commons/portal/tokens.ts');
const { KEY, portalDeps, portalEvent, seedCustomer, sessionOf } = await import(
  '../test/helpers/portal.ts'
);

const given = process.env.AWS_ENDPOINT_URL_DYNAMODB;
const ddb: RunningDynamoDbLocal | undefined = given ? undefined : await startDynamoDbLocal();
try {
  const client = new DynamoDBClient({
    endpoint: given ?? ddb?.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  let requests = 0;
  client.middlewareStack.add(
    (next) => async (args) => {
      requests++;
      return next(args);
    },
    { step: 'initialize', name: 'benchRequestCounter' },
  );
  const doc = documentClient(client);
  const tableName = `bench-portal-${randomUUID().slice(0, 8)}`;
  await ensureTable(client, tableName);
  await seedCustomer(doc, tableName, {
    customerId: '4242',
    account: 'long@example.com',
    openingGb: 5000,
    dailyMb: 1000,
    days: 400,
    now: NOW,
  });
  const handle = createPortalHandler(() =>
    portalDeps(doc, tableName, {
      now: () => NOW,
      config: {
        portal: { rateLimit: { perCustomerPerMinute: 10_000, perAddressPerMinute: 10_000 } },
      },
    }),
  );
  const token = signToken(portalKeys(KEY), 'link', {
    customerId: '4242',
    version: 0,
    expires: Math.floor(NOW.getTime() / 1000) + 86_400,
  });
  const session = sessionOf(
    (await handle(portalEvent('GET', `/portal/open?token=${token}`))) as never,
  );
  if (!session) throw new Error('the link did not open a session');

  const times: number[] = [];
  const counts: number[] = [];
  let bytes = 0;
  for (let i = 0; i < VIEWS + 5; i++) {
    requests = 0;
    const t0 = performance.now();
    const res = (await handle(
      portalEvent('GET', '/portal/me', { cookies: { fp_portal: session } }),
    )) as {
      statusCode: number;
      body: string;
    };
    const ms = performance.now() - t0;
    if (res.statusCode !== 200) throw new Error(`view answered ${res.statusCode}`);
    // The first views warm the connections and the JIT; they are not counted.
    if (i >= 5) {
      times.push(ms);
      counts.push(requests);
      bytes = res.body.length;
    }
  }
  times.sort((a, b) => a - b);
  const pct = (p: number) =>
    times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))] ?? 0;
  const maxRequests = Math.max(...counts);
  console.log(
    `customer with 400 days of usage and 40 top-ups; ${VIEWS} views after 5 warm-up views`,
  );
  console.log(
    `view server time  median ${pct(50).toFixed(1)} ms, p95 ${pct(95).toFixed(1)} ms, max ${pct(100).toFixed(1)} ms`,
  );
  console.log(
    `DynamoDB requests per view  ${maxRequests}${goal(maxRequests, { name: 'portal view DynamoDB requests', op: '<=', limit: 8 })}`,
  );
  console.log(`page size  ${(bytes / 1024).toFixed(1)} KB of HTML`);
  client.destroy();
} finally {
  await ddb?.stop();
}
exitOnMissedGoals();

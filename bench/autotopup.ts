/**
 * Auto top-up: what the balance listener costs per balance computation — DynamoDB requests,
 * Stripe calls and time — for 10,000 customers touched, 100 of whom opted in, against
 * DynamoDB Local and the Stripe stand-in over HTTP. Run: npx tsx bench/autotopup.ts
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { startDynamoDbLocal } from '../scripts/dynamodb-local.ts';

process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';

const CUSTOMERS = 10_000;
const OPTED_IN = 100;
const KEY = 'sk_test_bench';

const { documentClient } = await import('../functions/commons/clients/dynamodb.ts');
const { stripeClient } = await import('../functions/commons/clients/stripe.ts');
const { ensureTable } = await import('../functions/commons/store/table.ts');
const { AutoTopupStore } = await import('../functions/commons/autotopup/store/autotopup.ts');
const { DynamoLedger } = await import('../functions/commons/payments/ledger/ledger.ts');
const { CustomerBalanceStore } = await import(
  '../functions/commons/customers/store/customer-balances.ts'
);
const { storedBalances } = await import('../functions/commons/autotopup/balances.ts');
const { SnapshotStore } = await import('../functions/commons/pollers/store/snapshots.ts');
const { AutoTopupEngine } = await import('../functions/commons/autotopup/engine.ts');
const { setAutoTopup } = await import('../functions/commons/autotopup/settings.ts');
const { createStripeApi } = await import('../functions/commons/autotopup/stripe-api.ts');
const { parseConfig } = await import('../functions/commons/config/load.ts');
const { Decimal, gbToMb } = await import('../functions/commons/units.ts');
const { startStripeStandIn } = await import('../local/stripe/server.ts');

// DYNAMODB_ENDPOINT: a DynamoDB Local already up (a busy machine may not start one in time).
const given = process.env.DYNAMODB_ENDPOINT;
const ddb = given ? { endpoint: given, stop: async () => undefined } : await startDynamoDbLocal();
const standIn = await startStripeStandIn({ apiKey: KEY });
try {
  const client = new DynamoDBClient({
    endpoint: ddb.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  let requests = 0;
  client.middlewareStack.add(
    (next) => async (args) => {
      requests += 1;
      return next(args);
    },
    { step: 'initialize', name: 'benchRequestCounter' },
  );
  const doc = documentClient(client);
  const tableName = `bench-${randomUUID().slice(0, 8)}`;
  await ensureTable(client, tableName);
  const config = parseConfig({
    payments: { catalog: { 'gb-100': { gb: 100, price: 8000, currency: 'usd' } } },
  });
  const store = new AutoTopupStore(doc, tableName);
  const snapshots = new SnapshotStore(doc, tableName);
  const now = new Date();
  await snapshots.put([
    {
      pool: 'primary',
      at: now.toISOString(),
      pollId: 'bench',
      rechargedMb: gbToMb(1_000_000),
      consumedMb: new Decimal(0),
      residualMb: gbToMb(1_000_000),
    },
  ]);
  for (let i = 0; i < OPTED_IN; i++) {
    await setAutoTopup(
      store,
      {
        customerId: String(1000 + i * 100),
        packageId: 'gb-100',
        quantity: 1,
        belowGb: '20',
        paymentMethod: 'pm_card_visa',
        stripeCustomer: 'cus_bench',
        by: 'cli:bench',
        now,
      },
      { payments: config.payments, autoTopup: config.autoTopup },
    );
  }
  const engine = new AutoTopupEngine({
    store,
    stripe: async () => createStripeApi(stripeClient(KEY, standIn.url)),
    ledger: new DynamoLedger(doc, tableName),
    balances: storedBalances(
      new CustomerBalanceStore(doc, tableName),
      config.upstream.timeZone,
      () => now,
    ),
    snapshots,
    sink: { raise: async () => undefined },
    notices: { send: async () => undefined },
    clock: () => now,
    config: { payments: config.payments, autoTopup: config.autoTopup },
  });
  const changes = (lowGb: string) =>
    Array.from({ length: CUSTOMERS }, (_, i) => {
      const gb = i % 100 === 0 ? lowGb : '500';
      const balance = {
        customerId: String(1000 + i),
        balanceMb: gbToMb(gb).toFixed(),
        burn1dMb: null,
        burn7dMb: null,
        daysLeft: null,
        lastCreditMb: null,
        lastCreditAt: null,
        asOf: now.toISOString(),
      };
      return { before: undefined, after: balance, credits: [] };
    });

  const measure = async (label: string, batch: ReturnType<typeof changes>) => {
    requests = 0;
    const stripeBefore = standIn.requests().length;
    const t0 = performance.now();
    await engine.onBalances(batch);
    const ms = performance.now() - t0;
    process.stdout.write(
      `${label.padEnd(58)} ${String(requests).padStart(5)} DynamoDB requests  ` +
        `${String(standIn.requests().length - stripeBefore).padStart(4)} Stripe calls  ${ms.toFixed(0).padStart(6)} ms\n`,
    );
  };
  process.stdout.write(
    `${CUSTOMERS} customers touched, ${OPTED_IN} opted in (gb-100 below 20 GB)\n`,
  );
  await measure('steady: nobody low', changes('500'));
  await measure(`${OPTED_IN} opted-in customers low: one charge each`, changes('5'));
  await measure('next poll, all still low and pending: no charge', changes('5'));
  client.destroy();
} finally {
  await standIn.close();
  await ddb.stop();
}

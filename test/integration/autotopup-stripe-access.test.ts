import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { AlertEventSink } from '../../functions/commons/alerts/index.ts';
import { AlertStateStore } from '../../functions/commons/alerts/store/alert-state.ts';
import { AutoTopupEngine } from '../../functions/commons/autotopup/engine.ts';
import { setAutoTopup } from '../../functions/commons/autotopup/settings.ts';
import { AutoTopupStore } from '../../functions/commons/autotopup/store/autotopup.ts';
import { createStripeApi } from '../../functions/commons/autotopup/stripe-api.ts';
import { stripeClient } from '../../functions/commons/clients/stripe.ts';
import { autoTopupSchema } from '../../functions/commons/config/autotopup.ts';
import type { BalanceChange, CustomerBalance } from '../../functions/commons/customers/types.ts';
import { SnsNotifier } from '../../functions/commons/notifier/index.ts';
import { DynamoLedger } from '../../functions/commons/payments/ledger/ledger.ts';
import { SnapshotStore } from '../../functions/commons/pollers/store/snapshots.ts';
import { Decimal, gbToMb } from '../../functions/commons/units.ts';
import { type StripeStandIn, startStripeStandIn } from '../../local/stripe/server.ts';
import { customerBalance } from '../helpers/balances.ts';
import { createTestTable } from '../helpers/dynamo.ts';
import { testPaymentsConfig } from './payments-fixtures.ts';

/**
 * Found by adversarial review 4 (#26): `#accessSettled` lives on the engine, and customer-actions keeps
 * the engine while its container is warm. Once any call of the container got an answer, a
 * later "Stripe answers again" no longer closes `autotopup:stripe-access`: the alert of the
 * first revoked key stays open (acknowledged by the person who rotated the key), and the next
 * revocation folds into it. No person hears that auto top-up cannot charge anyone.
 */
const KEY = 'sk_test_access_warm';
const sns = mockClient(SNSClient);
let standIn: StripeStandIn;
beforeAll(async () => {
  standIn = await startStripeStandIn({ apiKey: KEY, webhookMode: 'manual' });
});
afterAll(async () => {
  await standIn.close();
});
afterEach(() => {
  sns.reset();
});

it('a second key refusal in a warm container notifies a person', {
  timeout: 60_000,
}, async () => {
  const table = await createTestTable('stripe-access-warm');
  const store = new AutoTopupStore(table.doc, table.tableName);
  const snapshots = new SnapshotStore(table.doc, table.tableName);
  const alerts = new AlertStateStore({ client: table.doc, tableName: table.tableName });
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
  let now = new Date('2026-12-01T12:00:00Z');
  const clock = () => now;
  const sink = new AlertEventSink({
    state: alerts,
    notifier: new SnsNotifier({ topicArn: 'arn:aws:sns:us-east-1:1:a', client: new SNSClient({}) }),
    clock,
    reminderMs: 240 * 60_000,
  });
  const payments = testPaymentsConfig();
  const mb = gbToMb('1000000');
  await snapshots.put([
    {
      pool: 'primary',
      at: new Date(now.getTime() - 60_000).toISOString(),
      pollId: 'p1',
      rechargedMb: mb,
      consumedMb: new Decimal(0),
      residualMb: mb,
    },
  ]);
  let key = KEY;
  // One engine, as the warm customer-actions container keeps it.
  const engine = new AutoTopupEngine({
    store,
    stripe: async () => createStripeApi(stripeClient(key, standIn.url)),
    ledger: new DynamoLedger(table.doc, table.tableName),
    balances: { current: async () => new Map() },
    snapshots,
    sink,
    notices: { send: async () => undefined },
    clock,
    config: { autoTopup: autoTopupSchema.parse({}), payments },
  });
  const balance = (id: string, gb: string): CustomerBalance =>
    customerBalance(id, gb, now, { recentCredits: [] });
  const low = (id: string): BalanceChange[] => [
    { before: balance(id, '25'), after: balance(id, '12'), credits: [] },
  ];
  const optIn = (id: string) =>
    setAutoTopup(
      store,
      {
        customerId: id,
        packageId: 'gb100',
        quantity: 1,
        belowGb: '20',
        paymentMethod: 'pm_card_visa',
        stripeCustomer: 'cus_test',
        by: 'cli:test',
        now,
      },
      { autoTopup: autoTopupSchema.parse({}), payments },
    );
  const published = () => sns.commandCalls(PublishCommand).length;
  for (const id of ['901', '902', '903', '904']) await optIn(id);

  // Run 1: Stripe answers (the container's first answer).
  await engine.onBalances(low('901'));
  expect(standIn.paymentIntents()).toHaveLength(1);
  // Run 2: the key is revoked: a person is told.
  key = 'sk_test_revoked';
  now = new Date(now.getTime() + 3_600_000);
  await engine.onBalances(low('902'));
  expect(published()).toBe(1);
  // The person acknowledges and rotates the key; run 3 charges again.
  await alerts.acknowledge('topup-failed', 'autotopup:stripe-access', { at: now, by: 'agent' });
  key = KEY;
  now = new Date(now.getTime() + 3_600_000);
  await engine.onBalances(low('903'));
  expect(standIn.paymentIntents()).toHaveLength(2);
  // Run 4: the key is refused again; nobody can be charged now.
  key = 'sk_test_revoked';
  now = new Date(now.getTime() + 3_600_000);
  await engine.onBalances(low('904'));
  await sink.remindDue();
  expect(standIn.paymentIntents()).toHaveLength(2);
  expect(published()).toBeGreaterThan(1);
});

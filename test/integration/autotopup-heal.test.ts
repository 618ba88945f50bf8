import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedBalances } from '../../functions/commons/autotopup/balances.ts';
import { AutoTopupEngine } from '../../functions/commons/autotopup/engine.ts';
import { AutoTopupStore } from '../../functions/commons/autotopup/store/autotopup.ts';
import { createStripeApi } from '../../functions/commons/autotopup/stripe-api.ts';
import { stripeClient } from '../../functions/commons/clients/stripe.ts';
import { autoTopupSchema } from '../../functions/commons/config/autotopup.ts';
import { calibrate } from '../../functions/commons/customers/calibrate.ts';
import { type PollCustomersDeps, pollCustomers } from '../../functions/commons/customers/poll.ts';
import { CustomerBalanceStore } from '../../functions/commons/customers/store/customer-balances.ts';
import { CustomerRecordStore } from '../../functions/commons/customers/store/customer-records.ts';
import { DynamoLedger } from '../../functions/commons/payments/ledger/ledger.ts';
import type { PaymentDeps } from '../../functions/commons/payments/types.ts';
import { handleWebhook } from '../../functions/commons/payments/webhook.ts';
import { PollStateStore } from '../../functions/commons/pollers/store/poll-state.ts';
import { SeriesStore } from '../../functions/commons/pollers/store/series.ts';
import { SnapshotStore } from '../../functions/commons/pollers/store/snapshots.ts';
import { UsageStore } from '../../functions/commons/pollers/store/usage.ts';
import { type PollUsageDeps, pollUsage } from '../../functions/commons/pollers/usage.ts';
import { Decimal, gbToMb } from '../../functions/commons/units.ts';
import { type StripeStandIn, startStripeStandIn } from '../../local/stripe/server.ts';
import { optInWithCard } from '../helpers/autotopup.ts';
import { createTestTable } from '../helpers/dynamo.ts';
import { useSimulator } from '../helpers/simulator.ts';
import {
  checkoutSession,
  getTestSecret,
  RecordingSink,
  STRIPE_SECRET,
  stripeEvent,
  stripeHeaders,
  testPaymentsConfig,
} from './payments-fixtures.ts';

const fx = useSimulator();
const ZONE = 'Asia/Shanghai';
const KEY = 'sk_test_heal';
let standIn: StripeStandIn;
beforeAll(async () => {
  standIn = await startStripeStandIn({
    apiKey: KEY,
    webhook: { url: 'http://127.0.0.1:9/none', secret: STRIPE_SECRET },
    webhookMode: 'manual',
  });
});
afterAll(async () => standIn.close());

/**
 * Customer 88 with `gb` GB, auto top-up on (gb100 below 20 GB, a card), a pool that can
 * deliver; a Checkout or auto top-up credit whose upstream call applied but lost its answer
 * is healed by Stripe's retry later, when the ledger stamps creditedAt.
 */
async function setup(gb: number) {
  const table = await createTestTable('heal');
  let now = new Date('2026-12-01T02:00:00.000Z');
  const setNow = (at: Date) => {
    now = at;
    fx.sim.setNow(at);
  };
  setNow(now);
  const clock = () => now;
  const batch = { baseDelayMs: 1 };
  const ledger = new DynamoLedger(table.doc, table.tableName);
  const usage = new UsageStore(table.doc, table.tableName, { batch });
  const pollState = new PollStateStore(table.doc, table.tableName);
  const balances = new CustomerBalanceStore(table.doc, table.tableName);
  const records = new CustomerRecordStore(table.doc, table.tableName, batch);
  const autotopup = new AutoTopupStore(table.doc, table.tableName);
  const snapshots = new SnapshotStore(table.doc, table.tableName);
  const payments = testPaymentsConfig();
  const config = { autoTopup: autoTopupSchema.parse({}), payments };
  const sink = new RecordingSink();
  const upstream = fx.client({ timeoutMs: 10_000 });
  const engine = new AutoTopupEngine({
    store: autotopup,
    stripe: async () => createStripeApi(stripeClient(KEY, standIn.url)),
    ledger,
    balances: storedBalances(balances, ZONE, clock),
    snapshots,
    sink,
    notices: { send: async () => {} },
    clock,
    config,
  });
  const usageDeps: PollUsageDeps = {
    upstream,
    usage,
    series: new SeriesStore(table.doc, table.tableName, { batch }),
    pollState,
    polling: { backfillDays: 30, pageSize: 2000, maxPagesInFlight: 2, safetyMarginMs: 1000 },
    timeZone: ZONE,
    clock,
  };
  const customerDeps: PollCustomersDeps = {
    upstream,
    usage,
    balances,
    records,
    pollState,
    listeners: [engine],
    credits: ledger,
    config: {
      usageCounts: 'upload+download',
      recordsPageSize: 1000,
      usageDaysPerStep: 7,
      timeZone: ZONE,
      retentionDays: 400,
      safetyMarginMs: 1000,
      toleranceMinutes: 15,
    },
    clock,
  };
  const poll = async () => {
    expect((await pollUsage(usageDeps)).outcome.ok).toBe(true);
    const c = await pollCustomers(customerDeps);
    expect(c.outcome).toMatchObject({ ok: true, complete: true });
    expect(c.outcome.listenerFailures ?? []).toEqual([]);
  };
  const webhookDeps = (up = upstream): PaymentDeps => ({
    ledger,
    upstream: up,
    sink,
    clock,
    config: payments,
    getSecret: getTestSecret,
  });
  const deliver = async (payload: string, up = upstream) =>
    handleWebhook(
      'stripe',
      { headers: stripeHeaders(payload), body: Buffer.from(payload), rawQuery: '' },
      webhookDeps(up),
    );

  const id = '88';
  fx.sim.addCustomer({ customerId: id, account: 'a@example.com', balanceMb: gb * 1024 });
  fx.sim.setPool('primary', { rechargedMb: 1e9, consumedMb: 0, residualMb: 1e9 });
  await poll(); // backfill
  await calibrate(
    { balances, records, usage, pollState, timeZone: ZONE, usageCounts: 'upload+download', clock },
    { customerId: id, gb: new Decimal(gb) },
  );
  await optInWithCard(autotopup, config, id, now);
  await snapshots.put([
    {
      pool: 'primary',
      at: new Date(now.getTime() - 60_000).toISOString(),
      pollId: 'p1',
      rechargedMb: gbToMb(1_000_000),
      consumedMb: new Decimal(0),
      residualMb: gbToMb(1_000_000),
    },
  ]);

  return { id, now: () => now, setNow, poll, deliver };
}

/** The upstream applies the recharge but its answer is lost, also to the client's retries. */
function dropAfterApply() {
  fx.sim.addFault({ kind: 'drop-after-apply', endpoint: 'rechargeTrafficCount', times: 1 });
  return fx.client({ timeoutMs: 10_000, retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
}

const vendorGb = (id: string) =>
  new Decimal(fx.sim.getCustomer(id)?.balanceMb ?? 'NaN').div(1024).toFixed();
const intents = (id: string) =>
  standIn.paymentIntents().filter((p) => p.metadata.customerId === id);

/** A 100 GB Checkout healed `gapMs` later, then 95 GB used: 10 GB, under the threshold. */
async function healedCheckout(gapMs: number, thenMs = 0) {
  const t = await setup(5);
  t.setNow(new Date(t.now().getTime() + 60_000));
  const paid = stripeEvent(
    'checkout.session.completed',
    checkoutSession('cs_heal', { customerId: t.id, pkg: 'gb100', amount: 8000 }),
  );
  expect((await t.deliver(paid, dropAfterApply())).statusCode).toBe(503);
  t.setNow(new Date(t.now().getTime() + gapMs));
  expect(JSON.parse((await t.deliver(paid)).body ?? '{}')).toMatchObject({ result: 'credited' });
  await t.poll();
  t.setNow(new Date(t.now().getTime() + 10 * 60_000));
  fx.sim.useTraffic({ customerId: t.id, downloadMb: gbToMb(95).toFixed() });
  await t.poll();
  const first = intents(t.id).length;
  if (thenMs > 0) {
    // The engine looks again when the balance changes: the customer goes on using traffic.
    t.setNow(new Date(t.now().getTime() + thenMs));
    fx.sim.useTraffic({ customerId: t.id, downloadMb: gbToMb(1).toFixed() });
    await t.poll();
  }
  return { vendorGb: vendorGb(t.id), first, intents: intents(t.id).length };
}

/**
 * From 30 GB, 20 GB used: the poll charges gb100; its payment_intent.succeeded is healed
 * `gapMs` later. 7 hours on (past the cooldown) 105 GB used: 5 GB left.
 */
async function healedTopUp(gapMs: number) {
  const t = await setup(30);
  t.setNow(new Date(t.now().getTime() + 60_000));
  fx.sim.useTraffic({ customerId: t.id, downloadMb: gbToMb(20).toFixed() });
  await t.poll();
  const [pi] = intents(t.id);
  if (!pi) throw new Error('no charge');
  t.setNow(new Date(t.now().getTime() + 60_000));
  const succeeded = stripeEvent(
    'payment_intent.succeeded',
    pi as unknown as Record<string, unknown>,
  );
  expect((await t.deliver(succeeded, dropAfterApply())).statusCode).toBe(503);
  t.setNow(new Date(t.now().getTime() + gapMs));
  expect(JSON.parse((await t.deliver(succeeded)).body ?? '{}')).toMatchObject({
    result: 'credited',
  });
  await t.poll();
  t.setNow(new Date(t.now().getTime() + 7 * 3_600_000));
  fx.sim.useTraffic({ customerId: t.id, downloadMb: gbToMb(105).toFixed() });
  await t.poll();
  t.setNow(new Date(t.now().getTime() + 15 * 60_000));
  await t.poll();
  return { vendorGb: vendorGb(t.id), intents: intents(t.id).length };
}

describe('auto top-up: a credit healed later than the upstream applied it (#26)', () => {
  it('a Checkout healed 30 s later: the 10 GB balance is charged', {
    timeout: 120_000,
  }, async () => {
    standIn.reset();
    expect(await healedCheckout(30_000)).toEqual({ vendorGb: '10', first: 1, intents: 1 });
  });

  // Its record lies in the heal gap, where a console top-up of the same MB could be too (F2):
  // no charge on it for an hour after the credit, then the low balance is charged.
  it('F-A: a Checkout healed 3 minutes later does not count twice: the 10 GB balance is charged within the hour', {
    timeout: 120_000,
  }, async () => {
    standIn.reset();
    expect(await healedCheckout(3 * 60_000, 60 * 60_000)).toEqual({
      vendorGb: '9',
      first: 0,
      intents: 1,
    });
  });

  it('its own credit healed 30 s later: the next low balance is charged again', {
    timeout: 180_000,
  }, async () => {
    standIn.reset();
    expect(await healedTopUp(30_000)).toEqual({ vendorGb: '5', intents: 2 });
  });

  it('F-B: its own credit healed 20 minutes later ends the episode: the next low balance is charged', {
    timeout: 180_000,
  }, async () => {
    standIn.reset();
    expect(await healedTopUp(20 * 60_000)).toEqual({ vendorGb: '5', intents: 2 });
  });
});

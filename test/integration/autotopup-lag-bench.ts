import { expect } from 'vitest';
import { AutoTopupEngine } from '../../functions/commons/autotopup/engine.ts';
import { AutoTopupStore } from '../../functions/commons/autotopup/store/autotopup.ts';
import { createStripeApi } from '../../functions/commons/autotopup/stripe-api.ts';
import { stripeClient } from '../../functions/commons/clients/stripe.ts';
import { autoTopupSchema } from '../../functions/commons/config/autotopup.ts';
import type { CustomerBalance } from '../../functions/commons/customers/types.ts';
import { DynamoLedger, ledgerKeys } from '../../functions/commons/payments/ledger/ledger.ts';
import type { PaymentDeps } from '../../functions/commons/payments/types.ts';
import { handleWebhook } from '../../functions/commons/payments/webhook.ts';
import { SnapshotStore } from '../../functions/commons/pollers/store/snapshots.ts';
import { Decimal, gbToMb } from '../../functions/commons/units.ts';
import type { DynamicTrafficApi } from '../../functions/commons/upstream/types.ts';
import type { StripeStandIn } from '../../local/stripe/server.ts';
import { optInWithCard } from '../helpers/autotopup.ts';
import { createTestTable } from '../helpers/dynamo.ts';
import type { SimulatorFixture } from '../helpers/simulator.ts';
import {
  getTestSecret,
  RecordingSink,
  stripeEvent,
  stripeHeaders,
  testPaymentsConfig,
} from './payments-fixtures.ts';

/**
 * An adversary's bench: the real engine, ledger (DynamoDB Local), webhook path, simulator and
 * Stripe stand-in, with the balance the poll would compute handed in by the test, so the
 * upstream's records can be listed as late as the attack needs (the simulator lists at once).
 */
export async function bench(
  fx: SimulatorFixture,
  standIn: StripeStandIn,
  key: string,
  opts: { pkg?: string; cooldownHours?: number; id?: string; openingGb?: number } = {},
) {
  const table = await createTestTable('adv');
  let now = new Date('2026-12-01T02:00:00.000Z');
  const setNow = (at: Date) => {
    now = at;
    fx.sim.setNow(at);
  };
  const later = (ms: number) => setNow(new Date(now.getTime() + ms));
  setNow(now);
  const clock = () => now;
  const ledger = new DynamoLedger(table.doc, table.tableName);
  const store = new AutoTopupStore(table.doc, table.tableName);
  const snapshots = new SnapshotStore(table.doc, table.tableName);
  const payments = testPaymentsConfig();
  const config = {
    autoTopup: autoTopupSchema.parse({ cooldownHours: opts.cooldownHours ?? 6 }),
    payments,
  };
  const sink = new RecordingSink();
  const upstream = fx.client({ timeoutMs: 10_000 });
  let figures: CustomerBalance | undefined;
  const id = opts.id ?? '88';
  const engine = new AutoTopupEngine({
    store,
    stripe: async () => createStripeApi(stripeClient(key, standIn.url, { retryDelayMs: 1 })),
    ledger,
    balances: {
      current: async (ids) => new Map(figures && ids.includes(id) ? [[id, figures]] : []),
    },
    snapshots,
    sink,
    notices: { send: async () => {} },
    clock,
    config,
  });
  fx.sim.addCustomer({
    customerId: id,
    account: 'a@example.com',
    balanceMb: (opts.openingGb ?? 5) * 1024,
  });
  fx.sim.setPool('primary', { rechargedMb: 1e9, consumedMb: 0, residualMb: 1e9 });
  let polls = 0;
  /** The totals poll (every few minutes in the runtime): a pool far larger than any top-up. */
  const totalsPoll = () => {
    polls += 1;
    return snapshots.put([
      {
        pool: 'primary',
        at: new Date(now.getTime() - 60_000).toISOString(),
        pollId: `p${polls}`,
        rechargedMb: gbToMb(1_000_000),
        consumedMb: new Decimal(0),
        residualMb: gbToMb(1_000_000),
      },
    ]);
  };
  await totalsPoll();
  await optInWithCard(store, config, id, now, { packageId: opts.pkg ?? 'gb10' });

  const webhookDeps = (up: DynamicTrafficApi, led: PaymentDeps['ledger']): PaymentDeps => ({
    ledger: led,
    upstream: up,
    sink,
    clock,
    config: payments,
    getSecret: getTestSecret,
  });
  const deliver = async (payload: string, up = upstream, led: PaymentDeps['ledger'] = ledger) =>
    handleWebhook(
      'stripe',
      { headers: stripeHeaders(payload), body: Buffer.from(payload), rawQuery: '' },
      webhookDeps(up, led),
    );
  /** The upstream applies the recharge but its answer is lost, also to the client's retries. */
  const dropAfterApply = () => {
    fx.sim.addFault({ kind: 'drop-after-apply', endpoint: 'rechargeTrafficCount', times: 1 });
    return fx.client({ timeoutMs: 10_000, retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
  };
  /** The upstream answers 502 without applying anything. */
  const down = () => {
    fx.sim.addFault({ kind: 'status', endpoint: 'rechargeTrafficCount', status: 502, times: 1 });
    return fx.client({ timeoutMs: 10_000, retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
  };

  /**
   * The balance the poll computes from `openingGb` plus the upstream records listed so far
   * (`listed`: which of the simulator's recharge records, by index, the upstream lists yet).
   */
  const balance = (openingGb: number, listed: number[], usedGb = 0): CustomerBalance => {
    const recs = fx.sim
      .listRecords()
      .filter((r) => r.customerId === id && r.type === 0)
      .filter((_, i) => listed.includes(i));
    const at = (t: string) => new Date(`${t.replace(' ', 'T')}+08:00`).toISOString();
    const mb = recs.reduce((s, r) => s.plus(r.flowMb), gbToMb(openingGb)).minus(gbToMb(usedGb));
    const last = recs.at(-1);
    return {
      customerId: id,
      balanceMb: mb.toFixed(),
      burn1dMb: null,
      burn7dMb: null,
      daysLeft: null,
      lastCreditMb: last ? new Decimal(last.flowMb).toFixed() : null,
      lastCreditAt: last ? at(last.createTime) : null,
      asOf: now.toISOString(),
      recentCredits: recs.map((r) => ({
        at: at(r.createTime),
        mb: new Decimal(r.flowMb).toFixed(),
      })),
    };
  };
  /** One balance run, after a totals poll: the engine sees `after` (a change, no credit named). */
  const run = async (after: CustomerBalance) => {
    await totalsPoll();
    const before = figures ?? after;
    figures = after;
    await engine.onBalances([{ before, after, credits: [] }]);
  };
  const intents = () => standIn.paymentIntents().filter((p) => p.metadata.customerId === id);
  const succeeded = (pi: unknown) =>
    stripeEvent('payment_intent.succeeded', pi as Record<string, unknown>);
  const vendorGb = () =>
    new Decimal(fx.sim.getCustomer(id)?.balanceMb ?? 'NaN').div(1024).toFixed();
  const order = (paymentId: string) => ledger.getOrder({ provider: 'stripe', paymentId });
  const body = (a: { body?: string }) => JSON.parse(a.body ?? '{}') as Record<string, unknown>;
  const expectStatus = (a: { statusCode: number }, code: number) => expect(a.statusCode).toBe(code);

  return {
    id,
    table,
    payments,
    clock,
    now: () => now,
    later,
    ledger,
    store,
    sink,
    upstream,
    deliver,
    dropAfterApply,
    down,
    balance,
    run,
    intents,
    succeeded,
    vendorGb,
    order,
    body,
    expectStatus,
    orderKey: (pi: string) => ledgerKeys.order({ provider: 'stripe', paymentId: pi }).pk,
  };
}

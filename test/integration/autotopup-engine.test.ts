import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { storedBalances } from '../../functions/commons/autotopup/balances.ts';
import { type AutoTopupDeps, AutoTopupEngine } from '../../functions/commons/autotopup/engine.ts';
import type { AutoTopupNotice } from '../../functions/commons/autotopup/notices.ts';
import { customerAutoTopupNotices } from '../../functions/commons/autotopup/notices.ts';
import { turnOffAutoTopup } from '../../functions/commons/autotopup/settings.ts';
import { AutoTopupStore } from '../../functions/commons/autotopup/store/autotopup.ts';
import { createStripeApi } from '../../functions/commons/autotopup/stripe-api.ts';
import { sesClientFor } from '../../functions/commons/clients/ses.ts';
import { stripeClient } from '../../functions/commons/clients/stripe.ts';
import { autoTopupSchema } from '../../functions/commons/config/autotopup.ts';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { CustomerNotices } from '../../functions/commons/customer-notices/listener.ts';
import { CustomerContactStore } from '../../functions/commons/customer-notices/store/customer-contacts.ts';
import { NoticeStateStore } from '../../functions/commons/customer-notices/store/customer-notice-state.ts';
import { NoticeOutboxStore } from '../../functions/commons/customer-notices/store/notice-outbox.ts';
import { noticeChannels } from '../../functions/commons/customer-notices/wiring.ts';
import { CustomerBalanceStore } from '../../functions/commons/customers/store/customer-balances.ts';
import type {
  BalanceChange,
  CustomerBalance,
  CustomerCredit,
} from '../../functions/commons/customers/types.ts';
import { deriveOrderId } from '../../functions/commons/payments/catalog.ts';
import { DynamoLedger, ledgerKeys } from '../../functions/commons/payments/ledger/ledger.ts';
import type { PaymentDeps } from '../../functions/commons/payments/types.ts';
import { handleWebhook } from '../../functions/commons/payments/webhook.ts';
import { SnapshotStore } from '../../functions/commons/pollers/store/snapshots.ts';
import { Decimal, gbToMb } from '../../functions/commons/units.ts';
import { startSesStandIn } from '../../local/ses/stand-in.ts';
import { type StripeStandIn, startStripeStandIn } from '../../local/stripe/server.ts';
import { optInWithCard } from '../helpers/autotopup.ts';
import { createTestTable, type TestTable } from '../helpers/dynamo.ts';
import { useSimulator } from '../helpers/simulator.ts';
import {
  checkoutSession,
  countRequests,
  getTestSecret,
  RecordingSink,
  STRIPE_SECRET,
  stripeEvent,
  stripeHeaders,
  testPaymentsConfig,
} from './payments-fixtures.ts';

const KEY = 'sk_test_autotopup';

/**
 * The alerting sink can also close an alert; this one records what it closed: as the real
 * one, only an alert raised and still open.
 */
class ResolvingSink extends RecordingSink {
  readonly resolved: string[] = [];
  async resolve(_kind: string, subject: string): Promise<boolean> {
    const open = this.events.some((e) => e.subject === subject) && !this.resolved.includes(subject);
    if (open) this.resolved.push(subject);
    return open;
  }
}
const HOUR = 3_600_000;
const fx = useSimulator();

/** gb100 is 100 GB for 8000 usd cents; the threshold is 20 GB. */
describe('auto top-up engine (DynamoDB Local, Stripe stand-in, webhook path, simulator)', () => {
  let table: TestTable;
  let standIn: StripeStandIn;
  let hook: Server;
  let store: AutoTopupStore;
  let snapshots: SnapshotStore;
  let ledger: DynamoLedger;
  let sink: ResolvingSink;
  let notices: AutoTopupNotice[];
  let now: Date;
  let customer = 100;
  let id: string;

  const payments = testPaymentsConfig();
  /** The catalog the webhook reads; a test may change a price between charge and webhook. */
  let hookPayments = payments;
  const config = (over: Record<string, unknown> = {}) => ({
    autoTopup: autoTopupSchema.parse({
      actionUrl: 'https://shop.example/pay/{paymentIntentId}',
      ...over,
    }),
    payments,
  });

  beforeAll(async () => {
    // The runtime's webhook, as far as auto top-up needs it: the real payments path.
    hook = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const deps: PaymentDeps = {
          ledger,
          upstream: fx.client(),
          sink,
          clock: () => now,
          config: hookPayments,
          getSecret: getTestSecret,
        };
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
        const answer = await handleWebhook(
          'stripe',
          { headers, body: Buffer.concat(chunks), rawQuery: '' },
          deps,
        );
        res.writeHead(answer.statusCode, answer.headers).end(answer.body);
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
    standIn = await startStripeStandIn({
      apiKey: KEY,
      webhook: {
        url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/webhooks/stripe`,
        secret: STRIPE_SECRET,
      },
      webhookMode: 'manual',
    });
  });

  afterAll(async () => {
    await standIn.close();
    await new Promise<void>((r) => hook.close(() => r()));
  });

  beforeEach(async () => {
    // A table per test: the pool counts every customer's pending top-ups.
    table = await createTestTable('autotopup');
    store = new AutoTopupStore(table.doc, table.tableName);
    snapshots = new SnapshotStore(table.doc, table.tableName);
    ledger = new DynamoLedger(table.doc, table.tableName);
    standIn.reset();
    hookPayments = payments;
    sink = new ResolvingSink();
    notices = [];
    now = new Date('2026-12-01T12:00:00Z');
    shown = { lastCreditMb: null, lastCreditAt: null, recentCredits: [] };
    customer += 1;
    id = String(customer);
    fx.sim.addCustomer({ customerId: id });
    fx.sim.setPool('primary', { rechargedMb: 1e9, consumedMb: 0, residualMb: 1e9 });
    await snapshots.put([pool('1000000')]);
  });

  function pool(residualGb: string, at = new Date(now.getTime() - 60_000)) {
    const mb = gbToMb(residualGb);
    return {
      pool: 'primary' as const,
      at: at.toISOString(),
      pollId: `p-${at.getTime()}`,
      rechargedMb: mb,
      consumedMb: new Decimal(0),
      residualMb: mb,
    };
  }

  function engine(over: Record<string, unknown> = {}, deps: Partial<AutoTopupDeps> = {}) {
    return new AutoTopupEngine({
      store,
      stripe: async () => createStripeApi(stripeClient(KEY, standIn.url)),
      ledger,
      balances: storedBalances(
        new CustomerBalanceStore(table.doc, table.tableName),
        'Asia/Shanghai',
        () => now,
      ),
      snapshots,
      sink,
      notices: { send: async (n) => void notices.push(n) },
      clock: () => now,
      config: config(over),
      ...deps,
    });
  }

  /** The credit records the balance counts, once a credit showed; the newest apart. */
  let shown: Pick<CustomerBalance, 'lastCreditMb' | 'lastCreditAt' | 'recentCredits'> = {
    lastCreditMb: null,
    lastCreditAt: null,
    recentCredits: [],
  };
  /** The balance counts these credit records too. */
  const counts = (credits: readonly { mb: string; at: string }[]) => {
    const last = credits.at(-1);
    if (!last) return;
    shown = {
      lastCreditMb: last.mb,
      lastCreditAt: last.at,
      recentCredits: [
        ...(shown.recentCredits ?? []),
        ...credits.map((c) => ({ at: c.at, mb: c.mb })),
      ],
    };
  };
  const balance = (gb: string, extra: Partial<CustomerBalance> = {}): CustomerBalance => ({
    customerId: id,
    balanceMb: gbToMb(gb).toFixed(),
    burn1dMb: null,
    burn7dMb: null,
    daysLeft: null,
    ...shown,
    asOf: now.toISOString(),
    ...extra,
  });
  const low = (credits: CustomerCredit[] = [], gb = '12'): BalanceChange[] => {
    counts(credits);
    return [{ before: balance('25'), after: balance(gb), credits }];
  };

  async function optIn(
    paymentMethod = 'pm_card_visa',
    over: Partial<Parameters<typeof optInWithCard>[4]> = {},
  ) {
    await optInWithCard(store, config(), id, now, { paymentMethod, ...over });
  }

  const events = async () => (await store.history(id)).map((l) => l.event).reverse();
  /** A credit as the balance poll names it: by the ledger's order key. */
  const creditOf = (pi: string): CustomerCredit => ({
    mb: gbToMb(100).toFixed(),
    at: now.toISOString(),
    orderId: ledgerKeys.order({ provider: 'stripe', paymentId: pi }).pk,
  });
  /** The balance once it shows the credit that just landed. */
  const credited = (gb = '112'): BalanceChange[] => {
    counts([{ mb: gbToMb(100).toFixed(), at: now.toISOString() }]);
    return [{ before: balance('12'), after: balance(gb), credits: [] }];
  };
  /** The store, except that the run dies when it would record Stripe's answer. */
  const dyingAfterStripe = (): AutoTopupDeps['store'] => ({
    get: (c) => store.get(c),
    getMany: (c) => store.getMany(c),
    openEpisodes: () => store.openEpisodes(),
    blockedCustomers: () => store.blockedCustomers(),
    monthGb: (c, m) => store.monthGb(c, m),
    commit: async (next, v, lines) => {
      if (next.episode?.state === 'PENDING') throw new Error('process killed');
      return store.commit(next, v, lines);
    },
  });

  it('charges once for two runs at once, credits only through the webhook, and ends the episode when the credit lands', async () => {
    // Prepare
    await optIn();

    // Act: two poll runs see the same low balance at the same time
    await Promise.all([engine().onBalances(low()), engine().onBalances(low())]);

    // Assess: one PaymentIntent, marked, with the episode's idempotency key
    const intents = standIn.paymentIntents();
    expect(intents).toHaveLength(1);
    const pi = intents[0];
    if (!pi) throw new Error('no PaymentIntent');
    expect(pi).toMatchObject({
      amount: 8000,
      currency: 'usd',
      customer: 'cus_test',
      payment_method: 'pm_card_visa',
      metadata: {
        flowpilot: 'autotopup',
        customerId: id,
        package: 'gb100',
        quantity: '1',
        episode: '1',
      },
    });
    expect(standIn.requests().map((r) => r.idempotencyKey)).toEqual([
      `flowpilot-autotopup-${id}-1-1`,
    ]);
    expect(fx.sim.ledger().filter((l) => l.customerId === id)).toEqual([]); // nothing before the webhook
    expect((await store.get(id))?.episode).toMatchObject({
      state: 'PENDING',
      paymentIntentId: pi.id,
    });

    // Act: another poll while the payment is pending
    await engine().onBalances(low());
    expect(standIn.paymentIntents()).toHaveLength(1);

    // Act: Stripe's webhook arrives and is credited through the exactly-once path
    const delivered = await standIn.deliverWebhooks();
    expect(delivered).toEqual([
      expect.objectContaining({ type: 'payment_intent.succeeded', status: 200 }),
    ]);
    expect(fx.sim.ledger().filter((l) => l.customerId === id)).toEqual([
      expect.objectContaining({ orderId: deriveOrderId('stripe', pi.id), trafficGb: '100' }),
    ]);
    expect(await ledger.getOrder({ provider: 'stripe', paymentId: pi.id })).toMatchObject({
      state: 'CREDITED',
      paymentIntentId: pi.id,
      gb: '100',
    });

    // Act: the next balance computation sees the credit
    await engine().onBalances([
      { before: balance('12'), after: balance('112'), credits: [creditOf(pi.id)] },
    ]);

    // Assess
    expect((await store.get(id))?.episode).toBeUndefined();
    expect(await events()).toEqual(['on', 'episode', 'charged', 'credited']);
  });

  it('reads a batch of 250 customers in 4 requests and charges only the one who opted in', async () => {
    await optIn();
    const requests = countRequests(table.client);
    const others = Array.from(
      { length: 249 },
      (_, i): BalanceChange => ({
        before: undefined,
        after: { ...balance('1'), customerId: String(900_000 + i) },
        credits: [],
      }),
    );
    requests.reset();
    await engine().onBalances([...others, ...low()]);
    const charged = requests.total();
    requests.reset();
    await engine().onBalances(others);
    // 3 reads, the open episodes (a retry may be due for a customer not in the batch) and the
    // customers refused a charge (theirs may have passed)
    expect(requests.total()).toBe(5);
    expect(standIn.paymentIntents()).toHaveLength(1);
    // 3 reads, the stored balance of the one who opted in (a newer one than the message's is
    // acted on), the month counter, the pool snapshot and open episodes, the ledger's paid
    // orders still landing (RECEIVED, CREDITING) and recent credits (orders and reversals: any
    // the balance does not show yet), the claim and the answer, the refused customers
    expect(charged).toBe(3 + 11);
  });

  it('ends the episode from the ledger when the balance shows the credit but the poll did not name its order', async () => {
    await optIn();
    await engine().onBalances(low());
    await standIn.deliverWebhooks();
    await engine().onBalances(credited());
    expect((await store.get(id))?.episode).toBeUndefined();
  });

  it('after a crash between creating the PaymentIntent and recording it, the resume finds the same PaymentIntent', async () => {
    // Prepare: the run dies right after Stripe answered (its write of the answer never happens)
    await optIn();
    const crashing: AutoTopupDeps['store'] = {
      get: (c) => store.get(c),
      getMany: (c) => store.getMany(c),
      openEpisodes: () => store.openEpisodes(),
      blockedCustomers: () => store.blockedCustomers(),
      monthGb: (c, m) => store.monthGb(c, m),
      commit: async (next, v, lines) => {
        if (next.episode?.state === 'PENDING') throw new Error('process killed');
        return store.commit(next, v, lines);
      },
    };
    await engine({}, { store: crashing }).onBalances(low());
    expect(standIn.paymentIntents()).toHaveLength(1);
    expect((await store.get(id))?.episode?.state).toBe('CLAIMED');

    // Act: a run within the claim leaves it alone; one after it asks again
    await engine().onBalances(low());
    expect(standIn.requests()).toHaveLength(1);
    now = new Date(now.getTime() + 121_000);
    await engine().onBalances(low());

    // Assess: Stripe was asked for the charge, not to charge; one PaymentIntent, now recorded
    expect(standIn.paymentIntents()).toHaveLength(1);
    expect(standIn.requests().map((r) => [r.method, r.idempotencyKey])).toEqual([
      ['POST', `flowpilot-autotopup-${id}-1-1`],
      ['GET', undefined],
    ]);
    expect((await store.get(id))?.episode).toMatchObject({
      state: 'PENDING',
      paymentIntentId: standIn.paymentIntents()[0]?.id,
    });
    expect(await events()).toEqual(['on', 'episode', 'resume', 'charged']);
  });

  it('asks the customer to authenticate when the bank requires it, and charges nothing more meanwhile', async () => {
    await optIn('pm_card_authenticationRequired');
    await engine().onBalances(low());
    await engine().onBalances(low());

    const [pi] = standIn.paymentIntents();
    expect(standIn.paymentIntents()).toHaveLength(1);
    expect((await store.get(id))?.episode).toMatchObject({
      state: 'ACTION_REQUIRED',
      paymentIntentId: pi?.id,
    });
    expect(notices).toEqual([
      {
        kind: 'authentication-required',
        customerId: id,
        episode: 1,
        paymentIntentId: pi?.id,
        link: `https://shop.example/pay/${pi?.id}`,
      },
    ]);
    expect(await events()).toEqual(['on', 'episode', 'action-required']);
    expect(await standIn.deliverWebhooks()).toEqual([]);
  });

  it('emails the customer the 3-D Secure link once through the customer notices (SES stand-in)', async () => {
    const ses = await startSesStandIn({ verifiedIdentities: ['notices.example.com'] });
    try {
      const customers = parseConfig({
        customers: { notices: { email: { from: 'traffic@notices.example.com' } } },
      }).customers;
      const contacts = new CustomerContactStore(table.doc, table.tableName);
      await contacts.edit(id, { email: 'ada@example.net', locale: 'zh-CN' }, now);
      const customerNotices = new CustomerNotices({
        config: customers.notices,
        contacts,
        state: new NoticeStateStore(table.doc, table.tableName),
        outbox: new NoticeOutboxStore(table.doc, table.tableName),
        clock: () => now,
        ...noticeChannels(customers, 'aws', {
          ses: sesClientFor({ AWS_ENDPOINT_URL_SES: ses.url }),
        }),
      });
      const wired = { notices: customerAutoTopupNotices(customerNotices) };
      await optIn('pm_card_authenticationRequired');
      await engine({}, wired).onBalances(low());
      await engine({}, wired).onBalances(low());

      const [pi] = standIn.paymentIntents();
      expect(ses.sent.map((m) => [m.to, m.subject])).toEqual([
        [['ada@example.net'], '请确认自动充值付款'],
      ]);
      expect(ses.sent[0]?.text).toContain(`确认付款链接： https://shop.example/pay/${pi?.id}`);
    } finally {
      await ses.close();
    }
  });

  it('retries a declined card with backoff, then turns auto top-up off and tells the customer and the agent', async () => {
    await optIn('pm_card_chargeDeclined');
    const run = () => engine().onBalances(low());

    await run();
    expect((await store.get(id))?.episode).toMatchObject({ state: 'RETRY_WAIT', attempt: 1 });
    now = new Date(now.getTime() + 59 * 60_000);
    await run(); // before the backoff: nothing
    expect(standIn.paymentIntents()).toHaveLength(1);
    now = new Date(now.getTime() + 60_000);
    await run(); // attempt 2, after 60 min
    now = new Date(now.getTime() + 119 * 60_000);
    await run(); // backoff doubled: not yet
    expect(standIn.paymentIntents()).toHaveLength(2);
    now = new Date(now.getTime() + 60_000);
    await run(); // attempt 3: declined again → off

    const rec = await store.get(id);
    expect(rec).toMatchObject({ enabled: false });
    expect(rec?.episode).toBeUndefined();
    expect(standIn.requests().map((r) => r.idempotencyKey)).toEqual([
      `flowpilot-autotopup-${id}-1-1`,
      `flowpilot-autotopup-${id}-1-2`,
      `flowpilot-autotopup-${id}-1-3`,
    ]);
    expect(notices).toEqual([
      { kind: 'turned-off', customerId: id, episode: 1, reason: 'card_declined:generic_decline' },
    ]);
    expect(sink.events).toEqual([
      expect.objectContaining({ kind: 'topup-failed', subject: `autotopup:${id}:off:1` }),
    ]);
    expect(await events()).toEqual([
      'on',
      'episode',
      'declined',
      'retry',
      'declined',
      'retry',
      'declined',
      'off',
    ]);

    // Off means off: a later low balance charges nothing
    now = new Date(now.getTime() + 24 * HOUR);
    await run();
    expect(standIn.paymentIntents()).toHaveLength(3);
  });

  it('each turn-off after declines alerts under a subject of its own (the sink would fold a repeat into an acknowledged alert)', async () => {
    /** Three declines at their backoffs: the episode ends with auto top-up off. */
    const declineThrice = async () => {
      await optIn('pm_card_chargeDeclined');
      for (const wait of [0, 60, 120]) {
        now = new Date(now.getTime() + wait * 60_000);
        await engine().onBalances(low());
      }
      now = new Date(now.getTime() + 25 * HOUR);
    };
    await declineThrice();
    await declineThrice();

    expect(notices.map((n) => [n.kind, n.episode])).toEqual([
      ['turned-off', 1],
      ['turned-off', 2],
    ]);
    expect(sink.events.map((e) => e.subject)).toEqual([
      `autotopup:${id}:off:1`,
      `autotopup:${id}:off:2`,
    ]);
  });

  it('closes the "cannot charge" alert once Stripe takes the key again', async () => {
    await optIn();
    const wrongKey = {
      stripe: async () => createStripeApi(stripeClient('sk_test_revoked', standIn.url)),
    };
    await engine({}, wrongKey).onBalances(low());
    expect(sink.events.map((e) => e.subject)).toEqual(['autotopup:stripe-access']);
    expect(standIn.paymentIntents()).toHaveLength(0);

    now = new Date(now.getTime() + HOUR);
    await engine().onBalances(low());
    expect(standIn.paymentIntents()).toHaveLength(1);
    expect(sink.resolved).toContain('autotopup:stripe-access');
  });

  it('waits out the cooldown before the next episode', async () => {
    await optIn();
    await engine().onBalances(low());
    const [pi] = standIn.paymentIntents();
    await standIn.deliverWebhooks();
    // Credited, but heavy use keeps the customer below the threshold
    await engine().onBalances(low([creditOf(pi?.id ?? '')]));
    now = new Date(now.getTime() + 5 * HOUR);
    await engine().onBalances(low());
    await engine().onBalances(low());
    expect(standIn.paymentIntents()).toHaveLength(1);
    expect((await store.get(id))?.blocked).toBe('cooldown');

    now = new Date(now.getTime() + HOUR + 1000);
    await engine().onBalances(low());
    expect(standIn.paymentIntents()).toHaveLength(2);
    expect(standIn.paymentIntents()[1]?.metadata.episode).toBe('2');
    expect(await events()).toEqual([
      'on',
      'episode',
      'charged',
      'credited',
      'not-charged',
      'episode',
      'charged',
    ]);
  });

  it('stops at the per-customer monthly limit', async () => {
    await optIn('pm_card_visa', { maxPerMonth: 1 });
    await engine().onBalances(low());
    const [pi] = standIn.paymentIntents();
    await standIn.deliverWebhooks();
    await engine().onBalances(low([creditOf(pi?.id ?? '')]));
    now = new Date(now.getTime() + 7 * HOUR);
    await engine().onBalances(low());

    expect(standIn.paymentIntents()).toHaveLength(1);
    const rec = await store.get(id);
    expect(rec?.blocked).toBe('monthly-limit');
    expect((await store.history(id))[0]?.detail).toContain('1 auto top-ups in 2026-12 already');
  });

  it("refuses a charge that would pass the customer's monthly GB cap", async () => {
    const capped = testPaymentsConfig({ monthlyCapGbPerCustomer: 150 });
    await optIn();
    const e = new AutoTopupEngine({
      store,
      stripe: async () => createStripeApi(stripeClient(KEY, standIn.url)),
      ledger,
      balances: { current: async () => new Map() },
      snapshots,
      sink,
      notices: { send: async () => undefined },
      clock: () => now,
      config: { autoTopup: autoTopupSchema.parse({ cooldownHours: 0 }), payments: capped },
    });
    await e.onBalances(low());
    await standIn.deliverWebhooks(); // 100 GB counted in the month
    await e.onBalances(low([creditOf(standIn.paymentIntents()[0]?.id ?? '')]));
    await e.onBalances(low());
    expect(standIn.paymentIntents()).toHaveLength(1);
    expect((await store.get(id))?.blocked).toBe('monthly-cap');
  });

  it('never charges when the pool cannot deliver the package, and alerts the agent under one subject', async () => {
    // Prepare: 150 GB left, but another customer's 100 GB top-up is pending
    await snapshots.put([pool('150', new Date(now.getTime() - 1000))]);
    const other = id;
    await optIn();
    await engine().onBalances(low()); // other customer: pending 100 GB
    expect(standIn.paymentIntents()).toHaveLength(1);
    customer += 1;
    id = String(customer);
    await optIn();

    // Act: two polls
    await engine().onBalances(low());
    await engine().onBalances(low());

    // Assess
    expect(standIn.paymentIntents()).toHaveLength(1);
    expect((await store.get(id))?.blocked).toBe('pool');
    // Raised at each refusal under one subject: the alerting sink folds the repeat.
    expect(sink.events.map((e) => [e.kind, e.subject])).toEqual([
      ['topup-failed', `autotopup:pool:primary:${id}`],
      ['topup-failed', `autotopup:pool:primary:${id}`],
    ]);
    expect((await store.history(id))[0]?.detail).toMatch(/pool has 50 GB after pending top-ups/);
    expect(other).not.toBe(id);
    expect(sink.resolved).toEqual([]);

    // Act: the agent refills the pool; the next poll charges and closes the alert
    await snapshots.put([pool('1000', new Date(now.getTime() - 500))]);
    await engine().onBalances(low());
    expect(standIn.paymentIntents()).toHaveLength(2);
    expect(sink.resolved).toEqual([`autotopup:pool:primary:${id}`]);
  });

  it('asks Stripe about a charge still not credited: a missed webhook alerts the agent, a late failure is a decline', async () => {
    // Prepare: charged, but the webhook never arrives
    await optIn();
    await engine().onBalances(low());
    const [pi] = standIn.paymentIntents();
    now = new Date(now.getTime() + 59 * 60_000);
    await engine().onBalances(low());
    expect(standIn.requests().filter((r) => r.method === 'GET')).toHaveLength(0);

    // Act: an hour after the charge
    now = new Date(now.getTime() + 2 * 60_000);
    await engine().onBalances(low());
    await engine().onBalances(low());

    // Assess: one look at Stripe, one alert, still pending
    expect(standIn.requests().filter((r) => r.method === 'GET')).toHaveLength(1);
    expect(sink.events).toEqual([
      expect.objectContaining({ kind: 'topup-failed', subject: `autotopup:uncredited:${pi?.id}` }),
    ]);
    expect((await store.get(id))?.episode?.state).toBe('PENDING');
    expect(sink.resolved).toEqual([]);

    // Act: the bank reverses it; at the next look it goes the decline way
    standIn.failPaymentIntent(pi?.id ?? '', 'card_declined');
    now = new Date(now.getTime() + 61 * 60_000);
    await engine().onBalances(low());
    expect((await store.get(id))?.episode).toMatchObject({ state: 'RETRY_WAIT', attempt: 1 });
    expect(await events()).toEqual(['on', 'episode', 'charged', 'not-credited', 'declined']);
    expect(sink.resolved).toEqual([`autotopup:uncredited:${pi?.id}`]);
  });

  // ---- #26 A2: a resumed charge is never a new charge ----

  it('A2: a resume after the customer saved another card sends the first request again: one charge, no decline', async () => {
    // Prepare: the run dies after Stripe charged; then the customer saves another card
    await optIn();
    await engine({}, { store: dyingAfterStripe() }).onBalances(low());
    const [first] = standIn.paymentIntents();
    await optIn('pm_card_mastercard');

    // Act: the claim expires and the next runs resume, then hours pass
    now = new Date(now.getTime() + 121_000);
    await engine().onBalances(low());
    now = new Date(now.getTime() + 3 * HOUR);
    await engine().onBalances(low());

    // Assess: the one PaymentIntent is recorded; nothing was declined or charged again
    const posts = standIn.requests().filter((r) => r.method === 'POST');
    for (const p of posts) expect(p.params).toEqual(posts[0]?.params);
    expect(standIn.paymentIntents()).toHaveLength(1);
    expect((await store.get(id))?.episode).toMatchObject({
      state: 'PENDING',
      paymentIntentId: first?.id,
      paymentMethod: 'pm_card_visa',
    });
    expect(await events()).not.toContain('declined');
  });

  it('A2: a resume that finds no charge sends the request of the claim, not the card saved since', async () => {
    // Prepare: Stripe cannot be reached at the first try; then the customer saves another card
    await optIn();
    standIn.failNext(3, 500);
    await engine().onBalances(low());
    await optIn('pm_card_mastercard');

    now = new Date(now.getTime() + 121_000);
    await engine().onBalances(low());

    const posts = standIn.requests().filter((r) => r.method === 'POST');
    expect(posts).toHaveLength(4);
    for (const p of posts) expect(p.params).toEqual(posts[0]?.params);
    expect(standIn.paymentIntents()).toEqual([
      expect.objectContaining({ payment_method: 'pm_card_visa', status: 'succeeded' }),
    ]);
  });

  it('A2: a resume after Stripe forgot the idempotency key finds the PaymentIntent instead of charging again', async () => {
    await optIn();
    await engine({}, { store: dyingAfterStripe() }).onBalances(low());
    const [first] = standIn.paymentIntents();

    // Act: a day later (Stripe keeps keys 24 h) the run resumes
    standIn.forgetIdempotencyKeys();
    now = new Date(now.getTime() + 25 * HOUR);
    await engine().onBalances(low());

    // Assess: looked up, not created
    expect(standIn.paymentIntents()).toHaveLength(1);
    expect(standIn.requests().map((r) => r.method)).toEqual(['POST', 'GET']);
    expect((await store.get(id))?.episode).toMatchObject({
      state: 'PENDING',
      paymentIntentId: first?.id,
    });
    expect(await events()).toEqual(['on', 'episode', 'resume', 'charged']);
  });

  // ---- #26 A3: credited at what the episode charged ----

  it('A3: credits an auto top-up at the price it was charged when the price changed before the webhook', async () => {
    await optIn();
    await engine().onBalances(low());
    const [pi] = standIn.paymentIntents();
    hookPayments = testPaymentsConfig({
      catalog: { gb100: { gb: '100', price: 9000, currency: 'usd' } },
    });

    const delivered = await standIn.deliverWebhooks();

    expect(delivered).toEqual([expect.objectContaining({ status: 200 })]);
    expect(await ledger.getOrder({ provider: 'stripe', paymentId: pi?.id ?? '' })).toMatchObject({
      state: 'CREDITED',
      gb: '100',
      amountMinor: 8000,
    });
  });

  // ---- #26 A4: every charge re-checks that it is still wanted ----

  it('A4: a decline retry charges nothing once the customer bought traffic by hand', async () => {
    await optIn('pm_card_chargeDeclined');
    await engine().onBalances(low());
    now = new Date(now.getTime() + 61 * 60_000);

    await engine().onBalances([{ before: balance('12'), after: balance('112'), credits: [] }]);

    expect(standIn.paymentIntents()).toHaveLength(1);
    expect((await store.get(id))?.episode).toBeUndefined();
    expect(await events()).toEqual(['on', 'episode', 'declined', 'closed']);
  });

  it('A4: a crash-resume after the customer turned auto top-up off charges nothing', async () => {
    // Prepare: Stripe cannot be reached at the first try, so the claim stays
    await optIn();
    standIn.failNext(3, 500);
    await engine().onBalances(low());
    expect((await store.get(id))?.episode?.state).toBe('CLAIMED');
    await turnOffAutoTopup(store, { customerId: id, by: 'cli:test', now });

    // Act
    now = new Date(now.getTime() + 121_000);
    await engine().onBalances(low());

    // Assess: Stripe was asked whether the charge exists, not asked to charge
    expect(standIn.paymentIntents()).toHaveLength(0);
    expect(
      standIn
        .requests()
        .filter((r) => r.status === 200)
        .map((r) => r.method),
    ).toEqual(['GET']);
    expect((await store.get(id))?.episode).toBeUndefined();
    expect(await events()).toEqual(['on', 'episode', 'off', 'resume', 'closed']);
  });

  it("A4: a decline retry charges nothing that would pass the customer's monthly GB cap", async () => {
    const capped = testPaymentsConfig({ monthlyCapGbPerCustomer: 150 });
    await optIn('pm_card_chargeDeclined');
    const e = () =>
      engine({}, { config: { autoTopup: autoTopupSchema.parse({}), payments: capped } });
    await e().onBalances(low());
    // Meanwhile 60 GB were bought at Checkout and counted in the month
    await table.doc.send(
      new PutCommand({
        TableName: table.tableName,
        Item: { ...ledgerKeys.month(id, '2026-12'), gb: 60 },
      }),
    );
    now = new Date(now.getTime() + 61 * 60_000);

    await e().onBalances(low());

    expect(standIn.paymentIntents()).toHaveLength(1);
    expect((await store.get(id))?.episode).toBeUndefined();
  });

  // ---- #26 A5: retries when due, whatever the balance does ----

  it('A5: retries a declined card when due though the balance stopped changing', async () => {
    await optIn('pm_card_chargeDeclined');
    await engine().onBalances(low());
    now = new Date(now.getTime() + 61 * 60_000);

    // Act: a run whose poll changed nobody's balance
    await engine(
      {},
      { balances: { current: async () => new Map([[id, balance('12')]]) } },
    ).onBalances([]);

    expect(standIn.paymentIntents()).toHaveLength(2);
    expect((await store.get(id))?.episode).toMatchObject({ state: 'RETRY_WAIT', attempt: 2 });
  });

  // ---- #26 A6: no second episode on a balance that does not show the first credit ----

  it('A6: with cooldownHours 0, no second episode while the balance does not yet show the credit', async () => {
    await optIn();
    const e = () => engine({ cooldownHours: 0 });
    await e().onBalances(low());
    await standIn.deliverWebhooks(); // credited upstream; its record lags

    // Act: polls whose records do not yet hold the credit
    await e().onBalances(low());
    await e().onBalances(low());
    expect(standIn.paymentIntents()).toHaveLength(1);

    // Act: the balance shows it; later usage brings the customer low again
    await e().onBalances(credited());
    expect((await store.get(id))?.episode).toBeUndefined();
    await e().onBalances(low());
    expect(standIn.paymentIntents()).toHaveLength(2);
  });

  // ---- #26 A12: the credit's order named in one form ----

  it("A12: ends the episode on the credit the poll names, without reading the ledger's fallback", async () => {
    await optIn();
    await engine().onBalances(low());
    const [pi] = standIn.paymentIntents();
    await standIn.deliverWebhooks();
    let reads = 0;
    const counted = {
      getOrder: (k: Parameters<DynamoLedger['getOrder']>[0]) => {
        reads += 1;
        return ledger.getOrder(k);
      },
      listCredited: (from: Date, to: Date) => ledger.listCredited(from, to),
      listPaidNotCredited: (from: Date, to: Date) => ledger.listPaidNotCredited(from, to),
    };

    await engine({}, { ledger: counted }).onBalances(low([creditOf(pi?.id ?? '')], '112'));

    expect((await store.get(id))?.episode).toBeUndefined();
    expect(reads).toBe(0);
  });

  // ---- #26 attack 13: a hand-bought payment still landing is counted before any charge ----

  /**
   * The customer buys gb100 at Checkout and the upstream applies it, but FlowPilot does not
   * know yet: the answer was lost (RECEIVED, Stripe retries later) or the run died before
   * the ledger write (CREDITING). The upstream lists the record late: the balance lacks it.
   */
  async function boughtStillLanding(how: 'answer-lost' | 'killed'): Promise<string> {
    const session = checkoutSession(`cs_landing_${id}`, {
      customerId: id,
      pkg: 'gb100',
      amount: 8000,
    });
    const payload = stripeEvent('checkout.session.completed', session);
    if (how === 'answer-lost') {
      fx.sim.addFault({ kind: 'drop-after-apply', endpoint: 'rechargeTrafficCount', times: 1 });
    }
    const killed: Pick<DynamoLedger, 'markCredited'> = {
      markCredited: async () => {
        throw new Error('process killed');
      },
    };
    const answer = await handleWebhook(
      'stripe',
      { headers: stripeHeaders(payload), body: Buffer.from(payload), rawQuery: '' },
      {
        ledger: how === 'killed' ? Object.assign(Object.create(ledger), killed) : ledger,
        upstream: fx.client({ retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } }),
        sink,
        clock: () => now,
        config: payments,
        getSecret: getTestSecret,
      },
    );
    expect(answer.statusCode).toBeGreaterThanOrEqual(500);
    expect(fx.sim.ledger().filter((l) => l.customerId === id)).toHaveLength(1);
    const order = await ledger.getOrder({ provider: 'stripe', paymentId: `cs_landing_${id}` });
    expect(order?.state).toBe(how === 'answer-lost' ? 'RECEIVED' : 'CREDITING');
    return payload;
  }

  it('A13: no charge while a paid Checkout whose answer was lost is still landing', async () => {
    await optIn();
    await boughtStillLanding('answer-lost');
    now = new Date(now.getTime() + 60_000);

    await engine().onBalances(low());

    expect(standIn.paymentIntents()).toHaveLength(0);
  });

  it('A13: no charge while a paid Checkout whose run died before the ledger write is still landing', async () => {
    await optIn();
    await boughtStillLanding('killed');
    now = new Date(now.getTime() + 60_000);

    await engine().onBalances(low());

    expect(standIn.paymentIntents()).toHaveLength(0);
  });

  it('A13: a decline retry charges nothing while a paid Checkout is still landing', async () => {
    await optIn('pm_card_chargeDeclined');
    await engine().onBalances(low());
    await optIn('pm_card_visa');
    await boughtStillLanding('answer-lost');
    now = new Date(now.getTime() + 61 * 60_000);

    await engine(
      {},
      { balances: { current: async () => new Map([[id, balance('12')]]) } },
    ).onBalances([]);

    expect(standIn.paymentIntents()).toHaveLength(1);
    expect((await store.get(id))?.episode).toBeUndefined();
  });

  it('A13: once the payment is credited and shown, a later low balance is charged', async () => {
    await optIn();
    const payload = await boughtStillLanding('answer-lost');
    now = new Date(now.getTime() + 60_000);
    const retried = await handleWebhook(
      'stripe',
      { headers: stripeHeaders(payload), body: Buffer.from(payload), rawQuery: '' },
      {
        ledger,
        upstream: fx.client(),
        sink,
        clock: () => now,
        config: payments,
        getSecret: getTestSecret,
      },
    );
    expect(retried.statusCode).toBe(200);
    counts([{ mb: gbToMb(100).toFixed(), at: new Date(now.getTime() - 60_000).toISOString() }]);
    now = new Date(now.getTime() + 3_600_000);

    await engine().onBalances(low());

    expect(standIn.paymentIntents()).toHaveLength(1);
  });
});

describe('payment_intent.succeeded through the Stripe webhook (DynamoDB Local, simulator)', () => {
  let table: TestTable;
  let sink: RecordingSink;

  beforeAll(async () => {
    table = await createTestTable('autotopup-webhook');
  });
  beforeEach(() => {
    sink = new RecordingSink();
    fx.sim.addCustomer({ customerId: '88' });
    fx.sim.setPool('primary', { rechargedMb: 1e9, consumedMb: 0, residualMb: 1e9 });
  });

  const deliver = (type: string, object: Record<string, unknown>) => {
    const payload = JSON.stringify({
      id: `evt_${Math.random()}`,
      object: 'event',
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      type,
      data: { object },
    });
    const deps: PaymentDeps = {
      ledger: new DynamoLedger(table.doc, table.tableName),
      upstream: fx.client(),
      sink,
      clock: () => new Date(),
      config: testPaymentsConfig(),
      getSecret: getTestSecret,
    };
    const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: STRIPE_SECRET });
    return handleWebhook(
      'stripe',
      {
        headers: { 'content-type': 'application/json', 'stripe-signature': signature },
        body: Buffer.from(payload),
        rawQuery: '',
      },
      deps,
    );
  };

  it("does not credit a Checkout payment's own PaymentIntent a second time", async () => {
    // Prepare: a Checkout Session credited through its session
    const session = {
      id: 'cs_test_double',
      payment_status: 'paid',
      amount_total: 1000,
      currency: 'usd',
      client_reference_id: '88',
      metadata: { package: 'gb10' },
      payment_intent: 'pi_checkout_double',
    };
    const first = await deliver('checkout.session.completed', session);
    expect(JSON.parse(first.body)).toEqual({ received: true, result: 'credited' });

    // Act: Stripe also sends payment_intent.succeeded for the session's PaymentIntent
    const again = await deliver('payment_intent.succeeded', {
      id: 'pi_checkout_double',
      object: 'payment_intent',
      amount: 1000,
      amount_received: 1000,
      currency: 'usd',
      status: 'succeeded',
      metadata: { customerId: '88', package: 'gb10' },
    });

    // Assess: acknowledged, ignored, credited once in all
    expect(JSON.parse(again.body)).toEqual({ received: true, result: 'ignored' });
    expect(fx.sim.ledger().filter((l) => l.customerId === '88')).toHaveLength(1);
    const ledger = new DynamoLedger(table.doc, table.tableName);
    expect(
      await ledger.getOrder({ provider: 'stripe', paymentId: 'pi_checkout_double' }),
    ).toBeUndefined();
  });

  // A merchant-set payment_intent_data.metadata can carry the marker on a Checkout payment.
  const markedCheckoutPi = (id: string, metadata: Record<string, string>) => ({
    id,
    object: 'payment_intent',
    amount: 1000,
    amount_received: 1000,
    currency: 'usd',
    status: 'succeeded',
    metadata: { flowpilot: 'autotopup', customerId: '88', package: 'gb10', ...metadata },
  });
  const checkoutOf = (id: string, pi: string) => ({
    id,
    payment_status: 'paid',
    amount_total: 1000,
    currency: 'usd',
    client_reference_id: '88',
    metadata: { package: 'gb10' },
    payment_intent: pi,
  });
  const engineMeta = { quantity: '1', episode: '1', attempt: '1', gb: '10' };
  const creditsOf = (orderIds: string[]) =>
    fx.sim.ledger().filter((l) => orderIds.includes(l.orderId)).length;

  it('ignores a marked PaymentIntent without the episode, attempt and GB the engine sets', async () => {
    const res = await deliver(
      'payment_intent.succeeded',
      markedCheckoutPi('pi_marker_only', { quantity: '1' }),
    );
    expect(JSON.parse(res.body)).toEqual({ received: true, result: 'ignored' });
    expect(creditsOf([deriveOrderId('stripe', 'pi_marker_only')])).toBe(0);
  });

  it('credits a Checkout PaymentIntent once when a marked payment_intent.succeeded follows', async () => {
    const orders = [
      deriveOrderId('stripe', 'cs_test_marked_after'),
      deriveOrderId('stripe', 'pi_marked_after'),
    ];
    const first = await deliver(
      'checkout.session.completed',
      checkoutOf('cs_test_marked_after', 'pi_marked_after'),
    );
    expect(JSON.parse(first.body)).toEqual({ received: true, result: 'credited' });

    const again = await deliver(
      'payment_intent.succeeded',
      markedCheckoutPi('pi_marked_after', engineMeta),
    );

    expect(again.statusCode).toBe(200);
    expect(JSON.parse(again.body)).toEqual({ received: true, result: 'duplicate' });
    expect(creditsOf(orders)).toBe(1);
    const ledger = new DynamoLedger(table.doc, table.tableName);
    const dup = await ledger.getOrder({ provider: 'stripe', paymentId: 'pi_marked_after' });
    expect(dup).toMatchObject({ state: 'REJECTED', reason: 'duplicate-payment-intent' });
    expect(await ledger.findByPaymentIntent('pi_marked_after')).toMatchObject({
      paymentId: 'cs_test_marked_after',
      state: 'CREDITED',
    });
  });

  it('credits a marked PaymentIntent once when its Checkout session completes after it', async () => {
    const orders = [
      deriveOrderId('stripe', 'cs_test_marked_before'),
      deriveOrderId('stripe', 'pi_marked_before'),
    ];
    const first = await deliver(
      'payment_intent.succeeded',
      markedCheckoutPi('pi_marked_before', engineMeta),
    );
    expect(JSON.parse(first.body)).toEqual({ received: true, result: 'credited' });

    const again = await deliver(
      'checkout.session.completed',
      checkoutOf('cs_test_marked_before', 'pi_marked_before'),
    );
    const redelivered = await deliver(
      'checkout.session.completed',
      checkoutOf('cs_test_marked_before', 'pi_marked_before'),
    );

    expect(JSON.parse(again.body)).toEqual({ received: true, result: 'duplicate' });
    expect(JSON.parse(redelivered.body)).toEqual({ received: true, result: 'duplicate' });
    expect(creditsOf(orders)).toBe(1);
    const ledger = new DynamoLedger(table.doc, table.tableName);
    expect(await ledger.findByPaymentIntent('pi_marked_before')).toMatchObject({
      paymentId: 'pi_marked_before',
      state: 'CREDITED',
    });
  });

  it('credits a marked auto top-up PaymentIntent once, however often it is delivered', async () => {
    const pi = {
      id: 'pi_auto_once',
      object: 'payment_intent',
      amount: 8000,
      amount_received: 8000,
      currency: 'usd',
      status: 'succeeded',
      metadata: {
        flowpilot: 'autotopup',
        customerId: '88',
        package: 'gb100',
        quantity: '1',
        episode: '1',
        attempt: '1',
        gb: '100',
      },
    };
    const results = await Promise.all([
      deliver('payment_intent.succeeded', pi),
      deliver('payment_intent.succeeded', pi),
    ]);
    const again = await deliver('payment_intent.succeeded', pi);
    expect(results.map((r) => r.statusCode).sort()).toContain(200);
    expect(JSON.parse(again.body)).toEqual({ received: true, result: 'already-credited' });
    expect(
      fx.sim.ledger().filter((l) => l.orderId === deriveOrderId('stripe', 'pi_auto_once')),
    ).toHaveLength(1);
  });
});

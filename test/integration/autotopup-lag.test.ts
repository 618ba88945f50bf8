import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerReader } from '../../functions/commons/payments/ledger/ledger-read.ts';
import { releaseHeldOrder } from '../../local/cli/commands/replay.ts';
import { type StripeStandIn, startStripeStandIn } from '../../local/stripe/server.ts';
import { useSimulator } from '../helpers/simulator.ts';
import { bench } from './autotopup-lag-bench.ts';
import { checkoutSession, STRIPE_SECRET, stripeEvent } from './payments-fixtures.ts';

/**
 * #26, adversarial review round 2 (F2, F3): the episode's credit and the ledger's credits
 * matched to the upstream's records (no order id) when a window spans a heal gap or a day
 * HELD. The balance the poll computes is handed in, so records can be listed as late as needed.
 */
const fx = useSimulator();
const KEY = 'sk_test_adv_lag';
let standIn: StripeStandIn;
beforeAll(async () => {
  standIn = await startStripeStandIn({
    apiKey: KEY,
    webhook: { url: 'http://127.0.0.1:9/none', secret: STRIPE_SECRET },
    webhookMode: 'manual',
  });
});
afterAll(async () => standIn.close());

const MIN = 60_000;
const handBought = (id: string, session: string) =>
  stripeEvent(
    'checkout.session.completed',
    checkoutSession(session, { customerId: id, pkg: 'gb100', amount: 8000 }),
  );

describe('F2: a record that is not the episode credit, inside its heal gap', () => {
  /**
   * Episode A (gb10) is charged; its payment_intent.succeeded meets a 502 (not applied) and
   * Stripe's retry credits it 9 minutes later. In between, something else puts 10 GB on the
   * customer upstream (`between`). The poll lists that record, not yet A's.
   */
  async function crosswise(between: (t: Awaited<ReturnType<typeof bench>>) => Promise<void>) {
    standIn.reset();
    const t = await bench(fx, standIn, KEY, { cooldownHours: 0 });
    t.later(MIN);
    await t.run(t.balance(5, []));
    const [pi] = t.intents();
    if (!pi) throw new Error('no charge');
    t.later(MIN);
    t.expectStatus(await t.deliver(t.succeeded(pi), t.down()), 503);
    t.later(MIN);
    await between(t);
    t.later(8 * MIN);
    expect(t.body(await t.deliver(t.succeeded(pi)))).toMatchObject({ result: 'credited' });
    // Upstream: 5 + 10 (between, listed) + 10 (A, not listed yet) = 25 GB, above 20.
    expect(t.vendorGb()).toBe('25');
    t.later(MIN);
    await t.run(t.balance(5, [0]));
    const open = (await t.store.get(t.id))?.episode !== undefined;
    t.later(MIN);
    await t.run(t.balance(5, [0]));
    return { charges: t.intents().length, open, t };
  }

  it('control: the same hand-bought gb10 CREDITED in the ledger: held, one charge', {
    timeout: 60_000,
  }, async () => {
    const out = await crosswise(async (t) => {
      const paid = stripeEvent(
        'checkout.session.completed',
        checkoutSession('cs_x0', { customerId: t.id, pkg: 'gb10', amount: 1000 }),
      );
      expect(t.body(await t.deliver(paid))).toMatchObject({ result: 'credited' });
    });
    expect(out.charges).toBe(1);
    expect(out.open).toBe(true);
  });

  it('a hand-bought gb10 applied upstream but not CREDITED (answer lost) is not taken for A: held, one charge', {
    timeout: 60_000,
  }, async () => {
    const out = await crosswise(async (t) => {
      const paid = stripeEvent(
        'checkout.session.completed',
        checkoutSession('cs_x1', { customerId: t.id, pkg: 'gb10', amount: 1000 }),
      );
      t.expectStatus(await t.deliver(paid, t.dropAfterApply()), 503);
    });
    // The run after A's credit ended the episode on the hand-bought record.
    expect(out.open).toBe(true);
    expect(out.charges).toBe(1);
  });

  it('a console top-up of the same MB in the heal gap may be A: held, one charge', {
    timeout: 60_000,
  }, async () => {
    const out = await crosswise(async (t) => {
      fx.sim.consoleTopUp({ customerId: t.id, mb: 10 * 1024 });
    });
    expect(out.charges).toBe(1);
    expect(out.open).toBe(true);
  });

  it('the console case is held at most an hour after A was credited: then A counts as shown and a low balance is charged', {
    timeout: 60_000,
  }, async () => {
    const { t } = await crosswise(async (t) => {
      fx.sim.consoleTopUp({ customerId: t.id, mb: 10 * 1024 });
    });
    t.later(60 * MIN);
    // A's record is still not listed; the balance shows 15 GB: A's credit ends the episode.
    await t.run(t.balance(5, [0]));
    expect((await t.store.get(t.id))?.episode).toBeUndefined();
    t.later(MIN);
    await t.run(t.balance(5, [0]));
    expect(t.intents()).toHaveLength(2);
  });
});

describe("F2, before any charge: a console top-up inside a hand-bought credit's heal gap", () => {
  it('the hand-bought credit not listed yet still counts: no charge within the hour, then the low balance is charged', {
    timeout: 60_000,
  }, async () => {
    standIn.reset();
    const t = await bench(fx, standIn, KEY, { cooldownHours: 0 });
    t.later(MIN);
    t.expectStatus(await t.deliver(handBought(t.id, 'cs_g'), t.down()), 503);
    t.later(3 * MIN);
    fx.sim.consoleTopUp({ customerId: t.id, mb: 100 * 1024 });
    t.later(8 * MIN);
    expect(t.body(await t.deliver(handBought(t.id, 'cs_g')))).toMatchObject({
      result: 'credited',
    });
    t.later(MIN);
    // 100 GB used; listed: the console record only. Shown 5 GB, the upstream holds 105 GB.
    await t.run(t.balance(5, [0], 100));
    expect(t.intents()).toHaveLength(0);
    t.later(60 * MIN);
    await t.run(t.balance(5, [0], 100));
    expect(t.intents()).toHaveLength(1);
  });
});

describe('F3: an order released from HELD a day later', () => {
  /**
   * R, a 100 % discount gb100 Checkout, is HELD (noPaymentRequired: hold). A minute later
   * X, a paid gb100 Checkout, is credited and listed. 25 hours on (X is past the 24 h
   * lookback, its record still among the balance's 48 h), the operator releases R: credited,
   * its record not listed yet. 100 GB were used: the poll shows 15 GB (low under 20), the
   * upstream holds 115 GB.
   */
  async function released(withX: boolean) {
    standIn.reset();
    const t = await bench(fx, standIn, KEY, { openingGb: 15 });
    t.later(MIN);
    const free = {
      ...checkoutSession('cs_r', { customerId: t.id, pkg: 'gb100', amount: 0 }),
      amount_subtotal: 8000,
      payment_status: 'no_payment_required',
    };
    expect(t.body(await t.deliver(stripeEvent('checkout.session.completed', free)))).toMatchObject({
      result: 'held',
    });
    t.later(MIN);
    if (withX) {
      expect(t.body(await t.deliver(handBought(t.id, 'cs_x')))).toMatchObject({
        result: 'credited',
      });
    }
    t.later(25 * 60 * MIN);
    const res = await releaseHeldOrder(
      {
        ledger: t.ledger,
        ledgerRead: new LedgerReader(t.table.doc, t.table.tableName),
        upstream: () => t.upstream,
        sink: t.sink,
        clock: t.clock,
        payments: t.payments,
      },
      { provider: 'stripe', paymentId: 'cs_r' },
      { by: 'ops', note: 'a gift' },
    );
    expect(res.outcome).toBe('credited');
    t.later(MIN);
    // Listed: X's record (if any), not R's yet.
    await t.run(t.balance(15, withX ? [0] : [], withX ? 100 : 0));
    return t.intents().length;
  }

  it('control: no other record: R counts as not shown, no charge', {
    timeout: 60_000,
  }, async () => {
    expect(await released(false)).toBe(0);
  });

  it('X, credited a day before R was released, does not lend R its record: no charge', {
    timeout: 60_000,
  }, async () => {
    expect(await released(true)).toBe(0);
  });
});

describe('a paid order still landing and a console top-up of its MB after it', () => {
  /**
   * A hand-bought gb100 meets a 502 (RECEIVED, Stripe retrying); 3 minutes later the agent
   * tops the customer up 100 GB at the console, which the customer uses up. The poll lists
   * the console record (if any) and shows 5 GB; Stripe's retry then lands the 100 GB.
   */
  async function landing(consoleMb: number | undefined) {
    standIn.reset();
    const t = await bench(fx, standIn, KEY, { cooldownHours: 0 });
    t.later(MIN);
    t.expectStatus(await t.deliver(handBought(t.id, 'cs_land'), t.down()), 503);
    expect(await t.order('cs_land')).toMatchObject({ state: 'RECEIVED' });
    t.later(3 * MIN);
    if (consoleMb !== undefined) fx.sim.consoleTopUp({ customerId: t.id, mb: consoleMb });
    t.later(MIN);
    await t.run(consoleMb === undefined ? t.balance(5, []) : t.balance(5, [0], 100));
    return t;
  }

  it('control: the landing order alone counts, no charge', { timeout: 60_000 }, async () => {
    const t = await landing(undefined);
    expect(t.intents()).toHaveLength(0);
    t.later(4 * MIN);
    expect(t.body(await t.deliver(handBought(t.id, 'cs_land')))).toMatchObject({
      result: 'credited',
    });
  });

  it('the console record may be the landing order or not: no charge before it lands', {
    timeout: 60_000,
  }, async () => {
    const t = await landing(100 * 1024);
    expect(t.intents()).toHaveLength(0);
    t.later(4 * MIN);
    expect(t.body(await t.deliver(handBought(t.id, 'cs_land')))).toMatchObject({
      result: 'credited',
    });
  });

  it('held at most an hour after the order: then the record counts as it and a low balance is charged', {
    timeout: 60_000,
  }, async () => {
    const t = await landing(100 * 1024);
    t.later(55 * MIN);
    await t.run(t.balance(5, [0], 100));
    expect(t.intents()).toHaveLength(0);
    t.later(MIN);
    await t.run(t.balance(5, [0], 100));
    expect(t.intents()).toHaveLength(1);
  });
});

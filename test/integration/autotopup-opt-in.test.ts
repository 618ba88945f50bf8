import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CreatedSessionConflictError,
  newSessionRef,
  recordCreatedSession,
} from '../../functions/commons/autotopup/checkout-sessions.ts';
import type { OptInDeps } from '../../functions/commons/autotopup/opt-in.ts';
import { checkoutOptInOf, recordCheckoutOptIn } from '../../functions/commons/autotopup/opt-in.ts';
import { setAutoTopup, turnOffAutoTopup } from '../../functions/commons/autotopup/settings.ts';
import { AutoTopupStore } from '../../functions/commons/autotopup/store/autotopup.ts';
import {
  CheckoutSessionStore,
  type CreatedSessionPurpose,
} from '../../functions/commons/autotopup/store/checkout-sessions.ts';
import { createStripeApi } from '../../functions/commons/autotopup/stripe-api.ts';
import { stripeClient } from '../../functions/commons/clients/stripe.ts';
import { autoTopupSchema } from '../../functions/commons/config/autotopup.ts';
import { createTestTable, type TestTable } from '../helpers/dynamo.ts';
import { paymentDeps, webhookHandler } from '../helpers/payments.ts';
import { fundedPool, useSimulator } from '../helpers/simulator.ts';
import { useStripeStandIn } from '../helpers/stripe.ts';
import {
  RecordingSink,
  stripeDelivery,
  stripeEvent,
  testPaymentsConfig,
} from './payments-fixtures.ts';

const KEY = 'sk_test_optin';
const fx = useSimulator();

describe('auto top-up opt-in at Stripe Checkout (webhook, Stripe stand-in, DynamoDB Local)', () => {
  let table: TestTable;
  const stand = useStripeStandIn({ apiKey: KEY, reset: false });
  let store: AutoTopupStore;
  let sessions: CheckoutSessionStore;
  let sink: RecordingSink;
  let stripeKey: string;

  beforeAll(async () => {
    table = await createTestTable('autotopup-optin');
    store = new AutoTopupStore(table.doc, table.tableName);
    sessions = new CheckoutSessionStore(table.doc, table.tableName);
  });
  beforeEach(() => {
    sink = new RecordingSink();
    stripeKey = KEY;
    fundedPool(fx.sim, '88');
  });

  function handler(autoTopup: Record<string, unknown> = {}) {
    const payments = testPaymentsConfig();
    const deps = paymentDeps(table, fx.client(), { sink, config: payments });
    const optIn: OptInDeps = {
      store,
      sessions,
      stripe: async () => createStripeApi(stripeClient(stripeKey, stand.standIn.url)),
      sink,
      clock: () => new Date(),
      config: { payments, autoTopup: autoTopupSchema.parse(autoTopup) },
    };
    return webhookHandler(deps, {
      async stripeCredited(req) {
        const found = checkoutOptInOf(req.body);
        if (found) await recordCheckoutOptIn(found, optIn);
      },
    });
  }

  /**
   * A paid Checkout Session for `customerId`, by default created (and recorded) by FlowPilot
   * for that customer to turn auto top-up on, paid by `cus_<customerId>`.
   */
  const paidSession = async (
    customerId: string,
    autoTopup?: string,
    opts: {
      created?: number;
      stripeCustomer?: string;
      /** Who created it: FlowPilot (recorded for `recordedFor`, with `purpose`) or a shop. */
      by?: 'flowpilot' | 'shop';
      recordedFor?: string;
      /** The ref recorded, when not the one the session carries. */
      recordedRef?: string;
      purpose?: CreatedSessionPurpose;
    } = {},
  ) => {
    const ref = newSessionRef();
    const flowpilot = (opts.by ?? 'flowpilot') === 'flowpilot';
    const session = stand.standIn.addCheckoutSession({
      customerId,
      stripeCustomer: opts.stripeCustomer ?? `cus_${Number(customerId)}`,
      paymentMethod: 'pm_card_visa',
      amountMinor: 1000,
      currency: 'usd',
      metadata: {
        package: 'gb10',
        ...(autoTopup ? { autoTopup } : {}),
        ...(flowpilot ? { flowpilot_session: ref } : {}),
      },
    });
    if (flowpilot) {
      await recordCreatedSession(sessions, {
        sessionId: session.id,
        ref: opts.recordedRef ?? ref,
        customerId: opts.recordedFor ?? customerId,
        purpose: opts.purpose ?? 'autotopup',
        now: new Date(),
      });
    }
    const created = opts.created === undefined ? {} : { created: opts.created };
    return stripeDelivery(
      'stripe',
      stripeEvent('checkout.session.completed', { ...session }, created),
    );
  };

  const trail = async (customerId: string) =>
    (await store.history(customerId)).map((l) => `${l.event} by ${l.by.replace(/:cs_.*/, '')}`);

  it('saves the rule and the card read back from Stripe, once', async () => {
    const delivery = await paidSession('88', 'gb100:20');
    const res = await handler()(delivery);
    expect(res.statusCode).toBe(200);
    expect(await store.get('88')).toMatchObject({
      enabled: true,
      packageId: 'gb100',
      quantity: 1,
      belowGb: '20',
      paymentMethod: 'pm_card_visa',
      stripeCustomer: 'cus_88',
      updatedBy: expect.stringMatching(/^checkout:cs_test_/),
    });
    // Stripe redelivers: credited already, opt-in already recorded
    expect((await handler()(delivery)).statusCode).toBe(200);
    expect((await store.history('88')).map((l) => l.event)).toEqual(['on']);
  });

  it('leaves customers who did not opt in alone', async () => {
    fx.sim.addCustomer({ customerId: '89' });
    expect((await handler()(await paidSession('89'))).statusCode).toBe(200);
    expect(await store.get('89')).toBeUndefined();
    expect(stand.standIn.requests().filter((r) => r.path.includes('/checkout/'))).toHaveLength(1);
  });

  it('tells the agent about an unusable opt-in and still acknowledges the paid order', async () => {
    fx.sim.addCustomer({ customerId: '90' });
    const res = await handler()(await paidSession('90', 'gb-unknown:20'));
    expect(res.statusCode).toBe(200);
    expect(await store.get('90')).toBeUndefined();
    expect(sink.events).toEqual([
      expect.objectContaining({
        kind: 'topup-failed',
        summary: expect.stringContaining('not in the catalog'),
      }),
    ]);
  });

  it('answers 503 when Stripe cannot be read, so that Stripe redelivers', async () => {
    fx.sim.addCustomer({ customerId: '91' });
    const delivery = await paidSession('91', 'gb100:20');
    stripeKey = 'sk_test_wrong';
    expect((await handler()(delivery)).statusCode).toBe(503);
    stripeKey = KEY;
    expect((await handler()(delivery)).statusCode).toBe(200);
    expect(await store.get('91')).toMatchObject({ enabled: true, stripeCustomer: 'cus_91' });
    expect(fx.sim.ledger().filter((l) => l.customerId === '91')).toHaveLength(1);
  });

  describe('an opt-in applies once per session, never over a later change', () => {
    it('is not turned back on by a redelivery after the operator turned it off', async () => {
      fx.sim.addCustomer({ customerId: '92' });
      const delivery = await paidSession('92', 'gb100:20');
      expect((await handler()(delivery)).statusCode).toBe(200);
      await turnOffAutoTopup(store, { customerId: '92', by: 'cli:ops', now: new Date() });
      // Stripe redelivers (or the agent resends the event from the dashboard)
      expect((await handler()(delivery)).statusCode).toBe(200);
      expect(await store.get('92')).toMatchObject({ enabled: false, updatedBy: 'cli:ops' });
      expect(await trail('92')).toEqual(['off by cli:ops', 'on by checkout']);
    });

    it('is not turned back on by a redelivery after it turned itself off after declines', async () => {
      fx.sim.addCustomer({ customerId: '93' });
      const delivery = await paidSession('93', 'gb100:20');
      expect((await handler()(delivery)).statusCode).toBe(200);
      // What the engine writes when the last attempt is declined
      const rec = await store.get('93');
      if (!rec) throw new Error('no record');
      const at = new Date().toISOString();
      await store.commit(
        { ...rec, enabled: false, version: rec.version + 1, updatedAt: at, updatedBy: 'auto' },
        rec.version,
        [{ by: 'auto', event: 'off', detail: 'turned off after 3 declined attempts' }],
      );
      expect((await handler()(delivery)).statusCode).toBe(200);
      expect(await store.get('93')).toMatchObject({ enabled: false });
      expect(await trail('93')).toEqual(['off by auto', 'on by checkout']);
    });

    it('does not apply a delayed first delivery over a change made after the payment', async () => {
      fx.sim.addCustomer({ customerId: '94' });
      await store.commit(
        {
          customerId: '94',
          enabled: true,
          packageId: 'gb10',
          quantity: 1,
          belowGb: '5',
          paymentMethod: 'pm_card_visa',
          stripeCustomer: 'cus_94',
          version: 1,
          episodeSeq: 0,
          chargesInMonth: 0,
          createdAt: '2026-01-01T00:00:00.000Z',
          updatedAt: '2026-01-01T00:00:00.000Z',
          updatedBy: 'cli:ops',
        },
        undefined,
        [{ by: 'cli:ops', event: 'on', detail: 'gb10' }],
      );
      // Paid a minute ago; the opt-in could not be recorded then (Stripe unreachable)…
      const delivery = await paidSession('94', 'gb100:20', {
        created: Math.floor(Date.now() / 1000) - 60,
      });
      stripeKey = 'sk_test_wrong';
      expect((await handler()(delivery)).statusCode).toBe(503);
      stripeKey = KEY;
      // …and the operator turned auto top-up off since
      await turnOffAutoTopup(store, { customerId: '94', by: 'cli:ops', now: new Date() });
      expect((await handler()(delivery)).statusCode).toBe(200);
      expect(await store.get('94')).toMatchObject({ enabled: false, packageId: 'gb10' });
      expect(await trail('94')).toEqual(['off by cli:ops', 'on by cli:ops']);
    });
  });

  it('guards 0066 as 66: one customer, one record, one application per session', async () => {
    fx.sim.addCustomer({ customerId: '66' });
    const delivery = await paidSession('0066', 'gb100:20');
    expect((await handler()(delivery)).statusCode).toBe(200);
    expect((await handler()(delivery)).statusCode).toBe(200);
    await turnOffAutoTopup(store, { customerId: '0066', by: 'cli:ops', now: new Date() });
    expect((await handler()(delivery)).statusCode).toBe(200);
    expect(await store.get('0066')).toBeUndefined();
    expect(await store.get('66')).toMatchObject({ customerId: '66', enabled: false });
    expect(await trail('66')).toEqual(['off by cli:ops', 'on by checkout']);
  });

  describe('a card is saved only from a session FlowPilot created for that customer', () => {
    const card = { paymentMethod: 'pm_card_visa', stripeCustomer: 'cus_77' };
    const rule = { packageId: 'gb10', quantity: 1, belowGb: '5' };

    it("refuses another payer's card for a customer who has one, and alerts", async () => {
      fx.sim.addCustomer({ customerId: '77' });
      await setAutoTopup(
        store,
        { customerId: '77', ...rule, ...card, by: 'cli:ops', now: new Date(Date.now() - 60_000) },
        {
          payments: testPaymentsConfig(),
          autoTopup: autoTopupSchema.parse({}),
        },
      );
      const delivery = await paidSession('77', 'gb100:20', { stripeCustomer: 'cus_evil' });
      expect((await handler()(delivery)).statusCode).toBe(200);
      expect(await store.get('77')).toMatchObject({ ...card, packageId: 'gb10' });
      expect(await trail('77')).toEqual(['on by cli:ops']);
      expect(sink.events).toEqual([
        expect.objectContaining({
          kind: 'topup-failed',
          severity: 'critical',
          summary: expect.stringContaining('paid by Stripe customer cus_evil'),
        }),
      ]);
    });

    it.each([
      ['a shop created', { by: 'shop' }, 'not created by FlowPilot'],
      ['FlowPilot created for another customer', { recordedFor: '88' }, 'created for customer 88'],
      ['FlowPilot created for a purchase only', { purpose: 'buy' }, 'purchase only'],
      ['carrying another flowpilot_session', { recordedRef: 'fps_other' }, 'not FlowPilot'],
    ] as const)('refuses a session %s, and alerts', async (_, opts, reason) => {
      fx.sim.addCustomer({ customerId: '95' });
      const delivery = await paidSession('95', 'gb100:20', opts);
      expect((await handler()(delivery)).statusCode).toBe(200);
      expect(await store.get('95')).toBeUndefined();
      expect(sink.events).toEqual([
        expect.objectContaining({ severity: 'warning', summary: expect.stringContaining(reason) }),
      ]);
      expect(sink.events[0]?.summary).toContain('autoTopup.checkoutOptIn: created-by-flowpilot');
    });

    it("takes a shop's session with checkoutOptIn any, and none with off", async () => {
      fx.sim.addCustomer({ customerId: '96' });
      fx.sim.addCustomer({ customerId: '97' });
      const shop = await paidSession('96', 'gb100:20', { by: 'shop' });
      expect((await handler({ checkoutOptIn: 'any' })(shop)).statusCode).toBe(200);
      expect(await store.get('96')).toMatchObject({ enabled: true, stripeCustomer: 'cus_96' });
      const ours = await paidSession('97', 'gb100:20');
      expect((await handler({ checkoutOptIn: 'off' })(ours)).statusCode).toBe(200);
      expect(await store.get('97')).toBeUndefined();
      expect(sink.events.map((e) => e.summary)).toEqual([
        expect.stringContaining('turned off (autoTopup.checkoutOptIn: off)'),
      ]);
    });

    it('lets the customer page change the rule as portal, never name a card', async () => {
      fx.sim.addCustomer({ customerId: '98' });
      const config = { payments: testPaymentsConfig(), autoTopup: autoTopupSchema.parse({}) };
      await expect(
        setAutoTopup(
          store,
          { customerId: '98', ...rule, ...card, by: 'portal', now: new Date() },
          config,
        ),
      ).rejects.toThrow(/only the operator names a card/);
      expect((await handler()(await paidSession('98', 'gb100:20'))).statusCode).toBe(200);
      await setAutoTopup(
        store,
        { customerId: '98', ...rule, by: 'portal', now: new Date() },
        config,
      );
      await turnOffAutoTopup(store, { customerId: '98', by: 'portal', now: new Date() });
      expect(await trail('98')).toEqual(['off by portal', 'settings by portal', 'on by checkout']);
    });

    it('records a created session once; the same facts again are harmless', async () => {
      const input = { sessionId: 'cs_test_rec', ref: newSessionRef(), customerId: '0099' };
      const now = new Date();
      const rec = await recordCreatedSession(sessions, { ...input, purpose: 'autotopup', now });
      expect(rec).toMatchObject({ customerId: '99', purpose: 'autotopup' });
      expect(await recordCreatedSession(sessions, { ...input, purpose: 'autotopup', now })).toEqual(
        rec,
      );
      await expect(
        recordCreatedSession(sessions, { ...input, purpose: 'buy', now }),
      ).rejects.toThrow(CreatedSessionConflictError);
      expect(await sessions.get('cs_test_rec')).toEqual(rec);
    });
  });
});

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkoutOptInOf, recordCheckoutOptIn } from '../../functions/commons/autotopup/opt-in.ts';
import { turnOffAutoTopup } from '../../functions/commons/autotopup/settings.ts';
import { AutoTopupStore } from '../../functions/commons/autotopup/store/autotopup.ts';
import { CheckoutSessionStore } from '../../functions/commons/autotopup/store/checkout-sessions.ts';
import { createStripeApi } from '../../functions/commons/autotopup/stripe-api.ts';
import { stripeClient } from '../../functions/commons/clients/stripe.ts';
import { autoTopupSchema } from '../../functions/commons/config/autotopup.ts';
import { DynamoLedger } from '../../functions/commons/payments/ledger/ledger.ts';
import type { PaymentDeps } from '../../functions/commons/payments/types.ts';
import { stripeCheckout } from '../../functions/commons/portal/stripe-checkout.ts';
import { portalKeys, signToken } from '../../functions/commons/portal/tokens.ts';
import { createPaymentWebhookHandler } from '../../functions/payment-webhook.ts';
import { createPortalHandler } from '../../functions/portal.ts';
import { type StripeStandIn, startStripeStandIn } from '../../local/stripe/server.ts';
import { createTestTable, type TestTable } from '../helpers/dynamo.ts';
import {
  csrfOf,
  KEY,
  portalDeps,
  portalEvent,
  type Result,
  seedCustomer,
  sessionOf,
} from '../helpers/portal.ts';
import { useSimulator } from '../helpers/simulator.ts';
import {
  getTestSecret,
  RecordingSink,
  stripeDelivery,
  stripeEvent,
  testPaymentsConfig,
} from './payments-fixtures.ts';

/*
 * The Buy button against the local Stripe stand-in, and the sessions it creates paid and
 * delivered through the payment webhook: an opt-in from the page is taken under the default
 * `autoTopup.checkoutOptIn: created-by-flowpilot`, and every other session is refused.
 */

const STRIPE_KEY = 'rk_test_portal_buy';
const NOW = new Date('2026-11-20T04:00:00.000Z');
const PAYMENTS = testPaymentsConfig();
const CONFIG = { payments: { providers: ['stripe' as const], catalog: PAYMENTS.catalog } };
const fx = useSimulator();
const CUSTOMERS = [
  '1001',
  '1002',
  '1003',
  '1004',
  '1005',
  '1006',
  '1007',
  '1008',
  '1009',
  '1010',
  '1011',
];

let table: TestTable;
let standIn: StripeStandIn;
let sessions: CheckoutSessionStore;
let store: AutoTopupStore;
let sink: RecordingSink;
let handle: ReturnType<typeof createPortalHandler>;

async function call(...args: Parameters<typeof portalEvent>): Promise<Result> {
  return (await handle(portalEvent(...args))) as Result;
}

function portalAt(now: Date) {
  return createPortalHandler(() =>
    portalDeps(table.doc, table.tableName, {
      now: () => now,
      config: CONFIG,
      checkout: stripeCheckout({
        stripe: async () => stripeClient(STRIPE_KEY, standIn.url, { retryDelayMs: 1 }),
        catalog: PAYMENTS.catalog,
        sessions,
        clock: () => now,
        origin: standIn.url,
      }),
    }),
  );
}

async function signIn(customerId: string, headers: Record<string, string> = {}) {
  const token = signToken(portalKeys(KEY), 'link', {
    customerId,
    version: 0,
    expires: Math.floor(NOW.getTime() / 1000) + 86_400,
  });
  const session =
    sessionOf(
      await call('GET', `/portal/open?token=${token}`, { headers: { 'sec-fetch-site': 'none' } }),
    ) ?? '';
  const page = await call('GET', '/portal/me', {
    cookies: { '__Host-fp_portal': session },
    headers,
  });
  return { session, csrf: csrfOf(page.body), page };
}

/** Buy on the page as `customerId`; the Checkout Session the page sent the browser to. */
async function buy(customerId: string, form: Record<string, string>) {
  const { session, csrf } = await signIn(customerId);
  const res = await call('POST', '/portal/buy', {
    cookies: { '__Host-fp_portal': session },
    form: { csrf, ...form },
  });
  expect(res.statusCode).toBe(303);
  const id = /\/checkout\/pay\/(cs_test_[^/?]+)$/.exec(res.headers.location ?? '')?.[1];
  const created = standIn.checkoutSessions().find((s) => s.id === id);
  if (!created) throw new Error(`the page sent the browser to ${res.headers.location}`);
  return created;
}

/** The payment webhook as deployed: credits, then records a Checkout opt-in. */
function webhook(checkoutOptIn?: string) {
  const deps: PaymentDeps = {
    ledger: new DynamoLedger(table.doc, table.tableName),
    upstream: fx.client(),
    sink,
    clock: () => new Date(),
    config: PAYMENTS,
    getSecret: getTestSecret,
  };
  return createPaymentWebhookHandler(
    async () => deps,
    () => deps.config,
    {
      async stripeCredited(req) {
        const found = checkoutOptInOf(req.body);
        if (!found) return;
        await recordCheckoutOptIn(found, {
          store,
          sessions,
          stripe: async () => createStripeApi(stripeClient(STRIPE_KEY, standIn.url)),
          sink,
          clock: () => new Date(),
          config: {
            payments: PAYMENTS,
            autoTopup: autoTopupSchema.parse(checkoutOptIn ? { checkoutOptIn } : {}),
          },
        });
      },
    },
  );
}

/** `checkout.session.completed` for a session as Stripe keeps it, with `edit` applied. */
function completed(
  id: string,
  edit: (s: Record<string, unknown>) => void = () => undefined,
  opts: { created?: number } = {},
) {
  const session = structuredClone(standIn.checkoutSessions().find((s) => s.id === id)) as Record<
    string,
    unknown
  >;
  edit(session);
  return stripeDelivery('stripe', stripeEvent('checkout.session.completed', session, opts));
}

const trail = async (customerId: string) =>
  (await store.history(customerId)).map((l) => `${l.event} by ${l.by.replace(/:cs_.*/, '')}`);

beforeAll(async () => {
  table = await createTestTable('portal-buy');
  sessions = new CheckoutSessionStore(table.doc, table.tableName);
  store = new AutoTopupStore(table.doc, table.tableName);
  standIn = await startStripeStandIn({ apiKey: STRIPE_KEY });
  for (const customerId of CUSTOMERS) {
    await seedCustomer(table.doc, table.tableName, {
      customerId,
      account: `c${customerId}@example.com`,
      openingGb: 10,
      dailyMb: 512,
      days: 12,
      now: NOW,
    });
  }
}, 60_000);

afterAll(async () => {
  await standIn?.close();
  table?.client.destroy();
});

beforeEach(() => {
  sink = new RecordingSink();
  handle = portalAt(NOW);
  for (const customerId of CUSTOMERS) {
    fx.sim.addCustomer({ customerId });
  }
  fx.sim.setPool('primary', { rechargedMb: 1e9, consumedMb: 0, residualMb: 1e9 });
});

describe('portal: Buy', () => {
  it('lists the packages with their price in major units and lets checkout pages be reached', async () => {
    // Act
    const { page } = await signIn('1001');
    const zh = await signIn('1001', { 'accept-language': 'zh-CN' });

    // Assess
    expect(page.body).toContain('10 GB · $10.00');
    expect(page.body).toContain('5 GB · CN¥30.00');
    expect(zh.page.body).toContain('购买');
    expect(page.headers['content-security-policy']).toContain(`form-action 'self' ${standIn.url}`);
  });

  it('creates and records a Checkout Session for the signed-in customer, whatever the form says', async () => {
    // Act
    const created = await buy('1001', {
      package: 'gb10',
      customerId: '1002',
      client_reference_id: '1002',
    });

    // Assess
    const sent = standIn.requests().find((r) => r.path === '/v1/checkout/sessions');
    expect(sent?.status).toBe(200);
    const ref = created.metadata.flowpilot_session ?? '';
    expect(ref).toMatch(/^fps_[\w-]{22}$/);
    expect(sent?.params).toEqual({
      mode: 'payment',
      client_reference_id: '1001',
      customer_creation: 'always',
      success_url: 'https://portal.example.test/portal/me?m=paid',
      cancel_url: 'https://portal.example.test/portal/me?m=canceled',
      line_items: {
        0: {
          quantity: '1',
          price_data: {
            currency: 'usd',
            unit_amount: '1000',
            product_data: { name: '10 GB for customer 1001' },
          },
        },
      },
      metadata: { package: 'gb10', customerId: '1001', flowpilot_session: ref },
    });
    expect(await sessions.get(created.id)).toEqual({
      sessionId: created.id,
      ref,
      customerId: '1001',
      purpose: 'buy',
      createdAt: NOW.toISOString(),
    });
  });

  it('asks Stripe to save the card when the customer ticks automatic top-up', async () => {
    // Act
    const created = await buy('1002', { package: 'cn5', auto: 'on', belowGb: '20' });

    // Assess
    const sent = standIn.requests().at(-1)?.params ?? {};
    expect(sent.payment_intent_data).toEqual({ setup_future_usage: 'off_session' });
    expect(sent.metadata).toMatchObject({ autoTopup: 'cn5:20', package: 'cn5' });
    expect(sent.client_reference_id).toBe('1002');
    expect(await sessions.get(created.id)).toMatchObject({
      customerId: '1002',
      purpose: 'autotopup',
    });
  });

  it('refuses an unknown package or a bad threshold without calling Stripe', async () => {
    // Prepare
    const { session, csrf } = await signIn('1001');
    const before = standIn.requests().length;

    // Act
    const unknown = await call('POST', '/portal/buy', {
      cookies: { '__Host-fp_portal': session },
      form: { csrf, package: '__proto__' },
    });
    const badThreshold = await call('POST', '/portal/buy', {
      cookies: { '__Host-fp_portal': session },
      form: { csrf, package: 'gb10', auto: 'on', belowGb: '1e9' },
    });

    // Assess
    expect(unknown.statusCode).toBe(404);
    expect(badThreshold.statusCode).toBe(400);
    expect(standIn.requests()).toHaveLength(before);
  });

  it('opens at most 5 Checkout Sessions per customer per hour', async () => {
    // Prepare
    handle = portalAt(new Date(NOW.getTime() + 7_200_000));
    const { session, csrf } = await signIn('1001');
    const before = standIn.checkoutSessions().length;

    // Act
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await call('POST', '/portal/buy', {
        cookies: { '__Host-fp_portal': session },
        form: { csrf, package: 'gb10' },
      });
      statuses.push(r.statusCode);
    }

    // Assess
    expect(statuses).toEqual([303, 303, 303, 303, 303, 429]);
    expect(standIn.checkoutSessions()).toHaveLength(before + 5);
  });
});

describe('portal: Buy with automatic top-up, through the webhook', () => {
  it('credits the purchase and turns auto top-up on with the card paid, under the default', async () => {
    // Prepare
    const created = await buy('1003', { package: 'gb10', auto: 'on', belowGb: '5' });
    const paid = standIn.payCheckoutSession(created.id);

    // Act
    const res = await webhook()(completed(created.id));

    // Assess
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(String(res.body))).toMatchObject({ result: 'credited' });
    expect(await store.get('1003')).toMatchObject({
      enabled: true,
      packageId: 'gb10',
      belowGb: '5',
      stripeCustomer: paid.customer,
      paymentMethod: 'pm_card_visa',
    });
    expect(await trail('1003')).toEqual(['on by checkout']);
    expect(sink.events).toEqual([]);
  });

  it("pays the next Buy as the Stripe customer on file, so the customer's card stays theirs", async () => {
    // Prepare
    const first = await buy('1004', { package: 'gb10', auto: 'on', belowGb: '5' });
    const { customer } = standIn.payCheckoutSession(first.id);
    expect((await webhook()(completed(first.id))).statusCode).toBe(200);

    // Act
    const next = await buy('1004', { package: 'gb100', auto: 'on', belowGb: '30' });
    standIn.payCheckoutSession(next.id);
    // Paid after the first opt-in was recorded (the event's time has whole seconds).
    const later = Math.floor(Date.now() / 1000) + 2;
    const res = await webhook()(completed(next.id, undefined, { created: later }));

    // Assess
    const sent = standIn
      .requests()
      .filter((r) => r.path === '/v1/checkout/sessions')
      .at(-1);
    expect(sent?.params).toMatchObject({ customer });
    expect(sent?.params).not.toHaveProperty('customer_creation');
    expect(res.statusCode).toBe(200);
    expect(await store.get('1004')).toMatchObject({
      packageId: 'gb100',
      belowGb: '30',
      stripeCustomer: customer,
    });
    expect(await trail('1004')).toEqual(['settings by checkout', 'on by checkout']);
  });

  it('refuses a session the page created for another customer, paid naming this one', async () => {
    // Prepare: the page's session for 1005, delivered as if paid for 1006.
    const created = await buy('1005', { package: 'gb10', auto: 'on', belowGb: '5' });
    standIn.payCheckoutSession(created.id);

    // Act
    const res = await webhook()(
      completed(created.id, (s) => {
        s.client_reference_id = '1006';
      }),
    );

    // Assess: the payment stands (credited to whom it names), the card is saved for nobody.
    expect(res.statusCode).toBe(200);
    expect(await store.get('1006')).toBeUndefined();
    expect(await store.get('1005')).toBeUndefined();
    expect(sink.events).toEqual([
      expect.objectContaining({
        kind: 'topup-failed',
        summary: expect.stringContaining('created for customer 1005, not 1006'),
      }),
    ]);
  });

  it("refuses a session not created by FlowPilot that copies a page session's metadata", async () => {
    // Prepare: a shop's own session carrying the ref of a session the page created.
    const ours = await buy('1007', { package: 'gb10', auto: 'on', belowGb: '5' });
    const shop = standIn.addCheckoutSession({
      customerId: '1007',
      stripeCustomer: 'cus_shop',
      paymentMethod: 'pm_card_visa',
      amountMinor: 1000,
      currency: 'usd',
      metadata: { ...ours.metadata },
    });

    // Act
    const res = await webhook()(completed(shop.id));

    // Assess
    expect(res.statusCode).toBe(200);
    expect(await store.get('1007')).toBeUndefined();
    expect(sink.events).toEqual([
      expect.objectContaining({ summary: expect.stringContaining('not created by FlowPilot') }),
    ]);
  });

  it('never applies a replayed session again after the customer turned auto top-up off', async () => {
    // Prepare
    const created = await buy('1002', { package: 'gb10', auto: 'on', belowGb: '5' });
    standIn.payCheckoutSession(created.id);
    const delivery = completed(created.id);
    expect((await webhook()(delivery)).statusCode).toBe(200);
    await turnOffAutoTopup(store, { customerId: '1002', by: 'portal', now: new Date() });

    // Act
    const again = await webhook()(delivery);
    const resent = await webhook()(completed(created.id));

    // Assess
    expect(again.statusCode).toBe(200);
    expect(resent.statusCode).toBe(200);
    expect(await store.get('1002')).toMatchObject({ enabled: false });
    expect(await trail('1002')).toEqual(['off by portal', 'on by checkout']);
    expect(sink.events).toEqual([]);
  });

  it("saves no card from a page session bought without 'top up automatically'", async () => {
    // Prepare: a plain purchase whose event claims an opt-in.
    const created = await buy('1006', { package: 'gb10' });
    standIn.payCheckoutSession(created.id);

    // Act
    const res = await webhook()(
      completed(created.id, (s) => {
        s.metadata = { ...(s.metadata as object), autoTopup: 'gb10:5' };
      }),
    );

    // Assess
    expect(res.statusCode).toBe(200);
    expect(await store.get('1006')).toBeUndefined();
    expect(sink.events).toEqual([
      expect.objectContaining({ summary: expect.stringContaining('purchase only') }),
    ]);
  });
});

describe('portal: turning auto top-up on without a card saves one in a setup-mode Checkout', () => {
  /** Auto top-up on, from the page, by a customer with no card on file. */
  async function turnOn(customerId: string) {
    const { session, csrf } = await signIn(customerId);
    const res = await call('POST', '/portal/autotopup', {
      cookies: { '__Host-fp_portal': session },
      form: { csrf, enabled: 'on', package: 'gb10', belowGb: '5', orDaysLeft: '', maxPerMonth: '' },
    });
    expect(res.statusCode).toBe(303);
    const id = /\/checkout\/pay\/(cs_test_[^/?]+)$/.exec(res.headers.location ?? '')?.[1] ?? '';
    return { id, sent: standIn.requests().at(-1)?.params ?? {} };
  }

  it('saves the card and turns auto top-up on, crediting nothing', async () => {
    // Prepare
    const { id, sent } = await turnOn('1008');
    const saved = standIn.payCheckoutSession(id);

    // Act
    const res = await webhook()(completed(id));
    const again = await webhook()(completed(id));

    // Assess
    expect(sent).toMatchObject({
      mode: 'setup',
      currency: 'usd',
      client_reference_id: '1008',
      metadata: { autoTopup: 'gb10:5', flowpilot_session: expect.stringMatching(/^fps_/) },
    });
    expect(sent).not.toHaveProperty('line_items');
    expect(await sessions.get(id)).toMatchObject({ customerId: '1008', purpose: 'autotopup' });
    expect(saved).toMatchObject({ mode: 'setup', status: 'complete', payment_intent: null });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(String(res.body))).not.toMatchObject({ result: 'credited' });
    expect(again.statusCode).toBe(200);
    expect(await store.get('1008')).toMatchObject({
      enabled: true,
      packageId: 'gb10',
      belowGb: '5',
      stripeCustomer: saved.customer,
      paymentMethod: 'pm_card_visa',
    });
    expect(await trail('1008')).toEqual(['on by checkout']);
    expect(fx.sim.ledger().filter((o) => o.customerId === '1008')).toEqual([]);
    expect(sink.events).toEqual([]);
  });

  it('offers the form on the page of a customer without a card, and its POST saves one', async () => {
    // Prepare
    const { session, page } = await signIn('1011');
    const form =
      /<form method="post" action="\/portal\/autotopup" id="autotopup-setup">(.*?)<\/form>/.exec(
        page.body,
      )?.[1];
    const fields = Object.fromEntries(
      [
        ...(form ?? '').matchAll(
          /<input type="(?:hidden|number)" name="(\w+)"[^>]*? value="([^"]*)"/g,
        ),
      ].map((m) => [m[1], m[2]]),
    );

    // Act
    const res = await call('POST', '/portal/autotopup', {
      cookies: { '__Host-fp_portal': session },
      form: { ...fields, package: 'gb10' },
    });
    const id = /\/checkout\/pay\/(cs_test_[^/?]+)$/.exec(res.headers.location ?? '')?.[1] ?? '';
    const sent = standIn.requests().at(-1)?.params;
    standIn.payCheckoutSession(id);
    await webhook()(completed(id));
    const after = await call('GET', '/portal/me', { cookies: { '__Host-fp_portal': session } });

    // Assess
    expect(form).toContain('Save a card and turn on');
    expect(form).toContain('<option value="gb10"');
    expect(fields).toMatchObject({ enabled: 'on', belowGb: '10', csrf: expect.any(String) });
    expect(res.statusCode).toBe(303);
    expect(sent).toMatchObject({ mode: 'setup', metadata: { autoTopup: 'gb10:10' } });
    expect(await store.get('1011')).toMatchObject({
      enabled: true,
      packageId: 'gb10',
      belowGb: '10',
    });
    expect(await trail('1011')).toEqual(['on by checkout']);
    expect(after.body).not.toContain('autotopup-setup');
    expect(after.body).toContain('A card is saved for it.');
  });

  it('refuses an unknown package or a bad threshold without calling Stripe', async () => {
    // Prepare
    const { session, csrf } = await signIn('1010');
    const before = standIn.requests().length;
    const post = (form: Record<string, string>) =>
      call('POST', '/portal/autotopup', {
        cookies: { '__Host-fp_portal': session },
        form: { csrf, enabled: 'on', ...form },
      });

    // Act
    const unknown = await post({ package: '__proto__', belowGb: '5' });
    const badThreshold = await post({ package: 'gb10', belowGb: '5e3' });

    // Assess
    expect(unknown.statusCode).toBe(400);
    expect(badThreshold.statusCode).toBe(400);
    expect(standIn.requests()).toHaveLength(before);
    expect(await store.get('1010')).toBeUndefined();
  });

  it('refuses a setup session the page created for another customer', async () => {
    // Prepare
    const { id } = await turnOn('1009');
    standIn.payCheckoutSession(id);

    // Act
    const res = await webhook()(
      completed(id, (s) => {
        s.client_reference_id = '1010';
      }),
    );

    // Assess
    expect(res.statusCode).toBe(200);
    expect(await store.get('1010')).toBeUndefined();
    expect(await store.get('1009')).toBeUndefined();
    expect(sink.events).toEqual([
      expect.objectContaining({ summary: expect.stringContaining('created for customer 1009') }),
    ]);
  });

  it('refuses a setup session FlowPilot did not create, and credits nothing for it', async () => {
    // Prepare: someone with a Stripe key makes their own setup session naming 1010.
    const stripe = stripeClient(STRIPE_KEY, standIn.url);
    const own = await stripe.post<{ id: string }>('checkout/sessions', {
      mode: 'setup',
      currency: 'usd',
      client_reference_id: '1010',
      success_url: 'https://shop.example.test/ok',
      metadata: { autoTopup: 'gb10:5', flowpilot_session: 'fps_made_up' },
    });
    standIn.payCheckoutSession(own.id);

    // Act
    const res = await webhook()(completed(own.id));

    // Assess
    expect(res.statusCode).toBe(200);
    expect(await store.get('1010')).toBeUndefined();
    expect(fx.sim.ledger().filter((o) => o.customerId === '1010')).toEqual([]);
    expect(sink.events).toEqual([
      expect.objectContaining({ summary: expect.stringContaining('not created by FlowPilot') }),
    ]);
  });
});

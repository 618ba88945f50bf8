import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { OptInDeps } from '../../functions/commons/autotopup/opt-in.ts';
import { checkoutOptInOf, recordCheckoutOptIn } from '../../functions/commons/autotopup/opt-in.ts';
import { createStripeApi } from '../../functions/commons/autotopup/stripe-api.ts';
import { stripeClient } from '../../functions/commons/clients/stripe.ts';
import { autoTopupSchema } from '../../functions/commons/config/autotopup.ts';
import type { PaymentDeps } from '../../functions/commons/payments/types.ts';
import { AutoTopupStore } from '../../functions/commons/store/autotopup.ts';
import { DynamoLedger } from '../../functions/commons/store/ledger.ts';
import { createPaymentWebhookHandler } from '../../functions/payment-webhook.ts';
import { type StripeStandIn, startStripeStandIn } from '../../local/stripe/server.ts';
import { createTestTable, type TestTable } from '../helpers/dynamo.ts';
import { useSimulator } from '../helpers/simulator.ts';
import {
  getTestSecret,
  RecordingSink,
  stripeDelivery,
  stripeEvent,
  testPaymentsConfig,
} from './payments-fixtures.ts';

const KEY = 'sk_test_optin';
const fx = useSimulator();

describe('auto top-up opt-in at Stripe Checkout (webhook, Stripe stand-in, DynamoDB Local)', () => {
  let table: TestTable;
  let standIn: StripeStandIn;
  let store: AutoTopupStore;
  let sink: RecordingSink;
  let stripeKey: string;

  beforeAll(async () => {
    table = await createTestTable('autotopup-optin');
    store = new AutoTopupStore(table.doc, table.tableName);
    standIn = await startStripeStandIn({ apiKey: KEY });
  });
  afterAll(() => standIn.close());
  beforeEach(() => {
    sink = new RecordingSink();
    stripeKey = KEY;
    fx.sim.addCustomer({ customerId: '88' });
    fx.sim.setPool('primary', { rechargedMb: 1e9, consumedMb: 0, residualMb: 1e9 });
  });

  function handler() {
    const payments = testPaymentsConfig();
    const deps: PaymentDeps = {
      ledger: new DynamoLedger(table.doc, table.tableName),
      upstream: fx.client(),
      sink,
      clock: () => new Date(),
      config: payments,
      getSecret: getTestSecret,
    };
    const optIn: OptInDeps = {
      store,
      stripe: async () => createStripeApi(stripeClient(stripeKey, standIn.url)),
      sink,
      clock: () => new Date(),
      config: { payments, autoTopup: autoTopupSchema.parse({}) },
    };
    return createPaymentWebhookHandler(
      async () => deps,
      () => deps.config,
      {
        async stripeCredited(req) {
          const found = checkoutOptInOf(req.body);
          if (found) await recordCheckoutOptIn(found, optIn);
        },
      },
    );
  }

  const paidSession = (customerId: string, autoTopup?: string) => {
    const session = standIn.addCheckoutSession({
      customerId,
      stripeCustomer: `cus_${customerId}`,
      paymentMethod: 'pm_card_visa',
      amountMinor: 1000,
      currency: 'usd',
      metadata: { package: 'gb10', ...(autoTopup ? { autoTopup } : {}) },
    });
    return stripeDelivery('stripe', stripeEvent('checkout.session.completed', { ...session }));
  };

  it('saves the rule and the card read back from Stripe, once', async () => {
    const delivery = paidSession('88', 'gb100:20');
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
    expect((await handler()(paidSession('89'))).statusCode).toBe(200);
    expect(await store.get('89')).toBeUndefined();
    expect(standIn.requests().filter((r) => r.path.includes('/checkout/'))).toHaveLength(1);
  });

  it('tells the agent about an unusable opt-in and still acknowledges the paid order', async () => {
    fx.sim.addCustomer({ customerId: '90' });
    const res = await handler()(paidSession('90', 'gb-unknown:20'));
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
    const delivery = paidSession('91', 'gb100:20');
    stripeKey = 'sk_test_wrong';
    expect((await handler()(delivery)).statusCode).toBe(503);
    stripeKey = KEY;
    expect((await handler()(delivery)).statusCode).toBe(200);
    expect(await store.get('91')).toMatchObject({ enabled: true, stripeCustomer: 'cus_91' });
    expect(fx.sim.ledger().filter((l) => l.customerId === '91')).toHaveLength(1);
  });
});

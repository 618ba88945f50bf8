import { randomUUID } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { capMonth, deriveOrderId } from '../../functions/commons/payments/catalog.ts';
import { ledgerKeys, type OrderKey } from '../../functions/commons/payments/ledger/ledger.ts';
import { LedgerReader } from '../../functions/commons/payments/ledger/ledger-read.ts';
import { sweepStuckDeductions } from '../../functions/commons/payments/sweep.ts';
import { releaseHeldOrder, replayOrder } from '../../local/cli/commands/replay.ts';
import { claimRefundPart, usePaymentWebhook } from '../helpers/payments.ts';
import {
  apiEvent,
  chargeRefunded,
  checkoutCompleted,
  checkoutSession,
  EPAY_KEY,
  epayNotify,
  epayParams,
  newSessionId,
  standardHeaders,
  standardPayload,
  stripeDelivery,
  stripeEvent,
  testPaymentsConfig,
} from './payments-fixtures.ts';

/** Each money path here lost a refund, or credited what was not owed, before issue #11. */
describe('payment webhooks: money paths (DynamoDB Local + simulator)', () => {
  const pay = usePaymentWebhook({ table: 'money-paths', customers: ['88', '89'] });
  const { fx, table, ledger, sink } = pay;
  const handlerOf = (config: Record<string, unknown> = {}) =>
    pay.handler({ config: testPaymentsConfig(config) });
  const resultOf = (res: { body?: string }) => JSON.parse(res.body ?? '{}').result;
  const refunded = (id: string, total: number, opts: { created?: number } = {}) =>
    chargeRefunded(`ch_${id}`, `pi_${id}`, total, opts.created);
  const disputed = (id: string, amount: number, type = 'charge.dispute.funds_withdrawn') =>
    stripeDelivery(
      'stripe',
      stripeEvent(type, {
        id: `dp_${id}`,
        object: 'dispute',
        amount,
        currency: 'usd',
        payment_intent: `pi_${id}`,
        status: type === 'charge.dispute.funds_reinstated' ? 'won' : 'needs_response',
      }),
    );
  const credits = () => fx.sim.ledger().map((o) => `${o.customerId}:${o.trafficGb}`);
  const deductions = () => fx.sim.deductions().map((d) => `${d.customerId}:${d.trafficGb}`);
  const order = (paymentId: string, provider = 'stripe') =>
    ledger.getOrder({ provider, paymentId });

  describe('point 1: a refund or dispute before its payment is known', () => {
    it('records a Stripe refund that came first and credits only what was not refunded', async () => {
      // Prepare
      const handler = handlerOf();
      const id = newSessionId();

      // Act
      const early = await handler(refunded(id, 300));
      const paid = await handler(checkoutCompleted(id));
      const again = await handler(refunded(id, 300));
      const rest = await handler(refunded(id, 1000));

      // Assess: 10 GB paid, 3 GB refunded before: 7 GB credited; the rest deducts the 7.
      expect(early.statusCode).toBe(200);
      expect(resultOf(early)).toBe('recorded-before-payment');
      expect(resultOf(paid)).toBe('credited');
      expect(resultOf(again)).toBe('already-deducted');
      expect(resultOf(rest)).toBe('deducted');
      expect(credits()).toEqual(['88:7']);
      expect(deductions()).toEqual(['88:7']);
      expect(await order(id)).toMatchObject({
        state: 'CREDITED',
        gb: '10',
        creditGb: '7',
        refundedMinor: 1000,
        deductedMinor: 1000,
        deductedGb: '10',
      });
    });

    it('credits nothing for a payment disputed in full before it was known', async () => {
      // Prepare
      const handler = handlerOf();
      const id = newSessionId();

      // Act
      const early = await handler(disputed(id, 1000));
      const paid = await handler(checkoutCompleted(id));

      // Assess
      expect(resultOf(early)).toBe('recorded-before-payment');
      expect(resultOf(paid)).toBe('refunded');
      expect(credits()).toEqual([]);
      expect(await order(id)).toMatchObject({ state: 'REJECTED', reason: 'refunded' });
    });

    it('records a Standard Webhooks payment.refunded before payment.succeeded', async () => {
      // Prepare
      const handler = handlerOf();
      const paymentId = `ord_${randomUUID()}`;
      const send = (type: string, data: Record<string, unknown>) => {
        const body = standardPayload(type, data);
        return handler(apiEvent('standard', body, standardHeaders(body)));
      };

      // Act
      const early = await send('payment.refunded', {
        paymentId,
        amountRefunded: 2000,
        currency: 'usd',
      });
      const paid = await send('payment.succeeded', {
        paymentId,
        customerId: '88',
        package: 'gb100',
        amount: 8000,
        currency: 'usd',
      });

      // Assess: a quarter refunded before: 75 of the 100 GB credited.
      expect(resultOf(early)).toBe('recorded-before-payment');
      expect(resultOf(paid)).toBe('credited');
      expect(credits()).toEqual(['88:75']);
    });

    it('never lets a refund slip between the read of pending refunds and the order write', async () => {
      // Prepare: the paid event read "no pending refunds" (version 0) …
      const id = newSessionId();
      const key: OrderKey = { provider: 'stripe', paymentId: id };
      const now = new Date();
      // … then a refund is recorded, while the PaymentIntent is still unknown.
      const recorded = await ledger.recordPending({
        provider: 'stripe',
        ref: `pi:pi_${id}`,
        entry: { partId: `ch_${id}:500`, kind: 'refund', minor: 500, currency: 'usd', at: '' },
        guard: { paymentIntentAbsent: `pi_${id}` },
        now,
      });

      // Act
      const stale = await ledger.createOrder(
        {
          ...key,
          orderId: deriveOrderId('stripe', id),
          state: 'CREDITED',
          paymentIntentId: `pi_${id}`,
        },
        {
          now,
          pending: {
            provider: 'stripe',
            ref: `pi:pi_${id}`,
            version: 0,
            entries: [],
            parts: [],
            counters: { refundedMinor: 0, deductedMinor: 0, deductedGb: '0' },
          },
        },
      );
      const late = await ledger.recordPending({
        provider: 'stripe',
        ref: `pi:other_${id}`,
        entry: { partId: 'x', kind: 'refund', minor: 1, currency: 'usd', at: '' },
        guard: { orderAbsent: { provider: 'stripe', paymentId: 'never-used' } },
        now,
      });

      // Assess
      expect(recorded).toBe(true);
      expect(stale).toEqual({ outcome: 'pending-changed' });
      expect(await ledger.getOrder(key)).toBeUndefined();
      expect(late).toBe(true);
    });
  });

  describe('point 2: a deduction part left DEDUCTING by a delivery that died', () => {
    async function stuckPart(at: Date) {
      const handler = handlerOf();
      const id = newSessionId();
      await handler(checkoutCompleted(id));
      const claim = await claimRefundPart(
        ledger,
        { provider: 'stripe', paymentId: id },
        `ch_${id}`,
        at,
      );
      expect(claim.outcome).toBe('claimed');
      return { id, handler };
    }

    it('answers a retry inside the lease 409 with Retry-After, not already-deducted', async () => {
      // Prepare
      const { id, handler } = await stuckPart(new Date());

      // Act
      const retry = await handler(refunded(id, 500));

      // Assess
      expect(retry.statusCode).toBe(409);
      expect(Number(retry.headers?.['retry-after'])).toBeGreaterThan(60);
      expect(fx.sim.callCount('deductionFlow')).toBe(0);
    });

    it('sweeps parts DEDUCTING past their lease to UNKNOWN and alerts, once', async () => {
      // Prepare
      const old = await stuckPart(new Date(Date.now() - 10 * 60_000));
      const fresh = await stuckPart(new Date());
      const sweep = () => sweepStuckDeductions(pay.sweepDeps());

      // Act
      const first = await sweep();
      const second = await sweep();

      // Assess
      expect(first.marked).toBe(1);
      expect(second.marked).toBe(0);
      expect(
        await ledger.getPart({ provider: 'stripe', paymentId: old.id }, `ch_${old.id}:500`),
      ).toMatchObject({ state: 'UNKNOWN' });
      expect(
        await ledger.getPart({ provider: 'stripe', paymentId: fresh.id }, `ch_${fresh.id}:500`),
      ).toMatchObject({ state: 'DEDUCTING' });
      expect(sink.events).toEqual([
        expect.objectContaining({
          kind: 'deduction-unknown',
          severity: 'critical',
          details: expect.objectContaining({ customerId: '88', gb: '5', state: 'UNKNOWN' }),
        }),
      ]);
      expect(fx.sim.callCount('deductionFlow')).toBe(0);
    });

    it('alerts again a part whose alert the notifier lost (#26): not noted as sent', async () => {
      // Prepare
      const { id } = await stuckPart(new Date(Date.now() - 10 * 60_000));
      const down = { raise: () => Promise.reject(new Error('ThrottlingException')) };
      await sweepStuckDeductions(pay.sweepDeps({ sink: down }));

      // Act: a poll past the lease of the sweep that marked it.
      const later = new Date(Date.now() + 10 * 60_000);
      await sweepStuckDeductions(pay.sweepDeps({ clock: () => later }));

      // Assess
      const subject = `deduction:stripe:${id}:ch_${id}:500`;
      expect(sink.events.filter((e) => e.subject === subject)).toHaveLength(1);
      expect(
        await ledger.getPart({ provider: 'stripe', paymentId: id }, `ch_${id}:500`),
      ).toMatchObject({
        state: 'UNKNOWN',
        alertedAt: expect.any(String),
      });
    });

    it('alerts a part marked UNKNOWN whose alert never went out (the process died between), once', async () => {
      // Prepare
      const at = new Date(Date.now() - 10 * 60_000);
      const { id } = await stuckPart(at);
      const key = { provider: 'stripe', paymentId: id };
      await ledger.settleDeduction(key, `ch_${id}:500`, {
        state: 'UNKNOWN',
        now: at,
        error: 'died',
      });
      const sweep = () => sweepStuckDeductions(pay.sweepDeps());

      // Act
      await sweep();
      await sweep();

      // Assess
      const subject = `deduction:stripe:${id}:ch_${id}:500`;
      expect(sink.events.filter((e) => e.subject === subject)).toEqual([
        expect.objectContaining({
          kind: 'deduction-unknown',
          severity: 'critical',
          details: expect.objectContaining({ customerId: '88', gb: '5', state: 'UNKNOWN' }),
        }),
      ]);
      expect(await ledger.getPart(key, `ch_${id}:500`)).toMatchObject({
        state: 'UNKNOWN',
        alertedAt: expect.any(String),
      });
      expect(fx.sim.callCount('deductionFlow')).toBe(0);
    });
  });

  describe('point 3: releasing a HELD order while a refund arrives', () => {
    it('refuses the release when a refund was recorded after the order was read', async () => {
      // Prepare: 6 × 100 GB is over the per-order maximum (500): held.
      const handler = handlerOf();
      const id = newSessionId();
      const held = await handler(
        checkoutCompleted(id, { pkg: 'gb100', quantity: '6', amount: 48_000 }),
      );
      expect(resultOf(held)).toBe('held');
      const reader = new LedgerReader(table.doc, table.tableName);
      let refundOnce = true;
      const racingReader = {
        // The operator's read finds no parts; the refund lands right after it.
        orderWithParts: async (key: OrderKey) => {
          const read = await reader.orderWithParts(key);
          if (refundOnce) {
            refundOnce = false;
            const res = await handler(
              stripeDelivery(
                'stripe',
                stripeEvent('charge.refunded', {
                  id: `ch_${id}`,
                  amount_refunded: 48_000,
                  currency: 'usd',
                  payment_intent: `pi_${id}`,
                }),
              ),
            );
            expect(resultOf(res)).toBe('nothing-to-deduct');
          }
          return read;
        },
      };

      // Act
      const release = await releaseHeldOrder(
        { ...pay.replayDeps(), ledgerRead: racingReader },
        { provider: 'stripe', paymentId: id },
        { by: 'alice', note: 'approved' },
      );

      // Assess
      expect(release.outcome).toBe('refused');
      expect(release.message).toMatch(/refund or dispute was recorded/);
      expect(await order(id)).toMatchObject({ state: 'HELD' });
      expect(credits()).toEqual([]);
    });
  });

  describe('point 4: reads that decide money', () => {
    it('reads orders, PaymentIntent pointers, parts and pending refunds strongly consistent', async () => {
      // Prepare
      const seen: { command: string; consistent: unknown }[] = [];
      table.client.middlewareStack.add(
        (next, context) => async (args) => {
          const input = args.input as { ConsistentRead?: unknown };
          seen.push({ command: String(context.commandName), consistent: input.ConsistentRead });
          return next(args);
        },
        { step: 'initialize', name: 'consistency-probe' },
      );
      const key = { provider: 'stripe', paymentId: 'cs_probe' };

      // Act
      try {
        await ledger.getOrder(key);
        await ledger.findByPaymentIntent('pi_probe');
        await ledger.getPart(key, 'ch_probe:1');
        await ledger.getPending('stripe', 'pi:pi_probe');
      } finally {
        table.client.middlewareStack.remove('consistency-probe');
      }

      // Assess
      expect(seen.length).toBeGreaterThanOrEqual(4);
      for (const s of seen) expect(s).toMatchObject({ consistent: true });
    });
  });

  describe('point 5: one customer id, one spelling', () => {
    it('keys 089, 0089 and 89 as customer 89, so the monthly cap counts them together', async () => {
      // Prepare: a 25 GB monthly cap; three 10 GB orders under three spellings.
      const handler = handlerOf({ monthlyCapGbPerCustomer: 25 });

      // Act
      const results = [];
      for (const customerId of ['089', '0089', '89']) {
        results.push(resultOf(await handler(checkoutCompleted(newSessionId(), { customerId }))));
      }
      const standardBody = standardPayload('payment.succeeded', {
        paymentId: `ord_${randomUUID()}`,
        customerId: '000',
        package: 'gb10',
        amount: 1000,
        currency: 'usd',
      });
      const zeros = await handler(
        apiEvent('standard', standardBody, standardHeaders(standardBody)),
      );

      // Assess
      expect(results).toEqual(['credited', 'credited', 'held']);
      expect(credits()).toEqual(['89:10', '89:10']);
      const cap = await table.doc.send(
        new GetCommand({
          TableName: table.tableName,
          Key: ledgerKeys.month('89', capMonth(new Date(), testPaymentsConfig().capTimeZone)),
        }),
      );
      expect(String(cap.Item?.gb)).toBe('20');
      expect(
        await table.doc.send(
          new GetCommand({
            TableName: table.tableName,
            Key: ledgerKeys.month('089', capMonth(new Date(), testPaymentsConfig().capTimeZone)),
          }),
        ),
      ).not.toHaveProperty('Item');
      expect(zeros.statusCode).toBe(400);
    });
  });

  describe('point 6: refunds answered 409 while the order is being credited', () => {
    it('are applied when a replay finishes the credit after the provider stopped retrying', async () => {
      // Prepare: the recharge fails for now, so the order is RECEIVED (retryable).
      const handler = handlerOf();
      const id = newSessionId();
      fx.sim.addFault({ kind: 'status', status: 502, endpoint: 'rechargeTrafficCount', times: 1 });
      const paid = await handler(checkoutCompleted(id));
      expect(paid.statusCode).toBe(503);

      // Act: a refund of 4 of the 10 usd arrives meanwhile (409), then the replay.
      const during = await handler(refunded(id, 400));
      const replay = await replayOrder(pay.replayDeps(), { provider: 'stripe', paymentId: id });
      const again = await handler(refunded(id, 400));

      // Assess: net 10 − 4 GB, deducted once.
      expect(during.statusCode).toBe(409);
      expect(replay.outcome).toBe('credited');
      expect(credits()).toEqual(['88:10']);
      expect(deductions()).toEqual(['88:4']);
      expect(resultOf(again)).toBe('already-deducted');
      expect(await ledger.getPending('stripe', `pi:pi_${id}`)).toMatchObject({ entries: [] });
    });
    it('are deducted by the delivery that finishes the credit', async () => {
      // Prepare: the recharge takes a moment, long enough for a refund to arrive meanwhile.
      const handler = handlerOf();
      const id = newSessionId();
      fx.sim.addFault({
        kind: 'latency',
        delayMs: 800,
        endpoint: 'rechargeTrafficCount',
        times: 1,
      });

      // Act
      const paying = handler(checkoutCompleted(id));
      await new Promise((r) => setTimeout(r, 300));
      const during = await handler(refunded(id, 1000));
      const paid = await paying;

      // Assess: the refund was answered 409 but not lost: the whole 10 GB came back.
      expect(during.statusCode).toBe(409);
      expect(resultOf(paid)).toBe('credited');
      expect(credits()).toEqual(['88:10']);
      expect(deductions()).toEqual(['88:10']);
      expect(await order(id)).toMatchObject({ refundsDuringCredit: true, deductedGb: '10' });
    });
  });

  describe('point 7: traffic given back when the money comes back', () => {
    it('re-credits a won dispute once, with an orderId of its own', async () => {
      // Prepare
      const handler = handlerOf();
      const id = newSessionId();
      await handler(checkoutCompleted(id));
      expect(resultOf(await handler(disputed(id, 1000)))).toBe('deducted');

      // Act
      const won = await handler(disputed(id, 1000, 'charge.dispute.funds_reinstated'));
      const again = await handler(disputed(id, 1000, 'charge.dispute.funds_reinstated'));

      // Assess
      expect(resultOf(won)).toBe('given-back');
      expect(resultOf(again)).toBe('already-given-back');
      const orders = fx.sim.ledger();
      expect(orders.map((o) => `${o.customerId}:${o.trafficGb}`)).toEqual(['88:10', '88:10']);
      expect(orders[1]?.orderId).toBe(deriveOrderId('stripe', `${id}#dp_${id}:reinstated`));
      expect(orders[1]?.orderId).not.toBe(orders[0]?.orderId);
      // The reconciliation sees the re-credit as a credit of the ledger, not a manual top-up.
      const listed = await ledger.listCredited(new Date(Date.now() - 60_000), new Date());
      expect(
        listed
          .filter((c) => c.orderKey.startsWith(`ORDER#stripe#${id}`))
          .map((c) => c.gb.toFixed()),
      ).toEqual(['10', '10']);
    });

    it('re-credits a failed refund; a later refund of the same total deducts again, a stale one does not', async () => {
      // Prepare
      const handler = handlerOf();
      const id = newSessionId();
      const t0 = Math.floor(Date.now() / 1000);
      await handler(checkoutCompleted(id));
      await handler(refunded(id, 300, { created: t0 }));
      const failed = stripeDelivery(
        'stripe',
        stripeEvent(
          'charge.refund.updated',
          {
            id: `re_${id}`,
            object: 'refund',
            amount: 300,
            currency: 'usd',
            status: 'failed',
            payment_intent: `pi_${id}`,
          },
          { created: t0 + 10 },
        ),
      );

      // Act
      const back = await handler(failed);
      const backAgain = await handler(failed);
      const stale = await handler(refunded(id, 300, { created: t0 }));
      const fresh = await handler(refunded(id, 300, { created: t0 + 20 }));

      // Assess: 10 credited, 3 deducted, 3 given back, 3 deducted again: net 7. The old total
      // sent again is the one the order holds, less its failed refund: nothing new.
      expect([back, backAgain, stale, fresh].map(resultOf)).toEqual([
        'given-back',
        'already-given-back',
        'already-deducted',
        'deducted',
      ]);
      expect(credits()).toEqual(['88:10', '88:3']);
      expect(deductions()).toEqual(['88:3', '88:3']);
    });
  });

  describe('point 8: Stripe livemode', () => {
    it('acknowledges and ignores an event of the other mode', async () => {
      // Prepare
      const liveOnly = handlerOf({ stripe: { livemode: true } });
      const testOnly = handlerOf({ stripe: { livemode: false } });
      const session = (live: boolean) =>
        stripeDelivery(
          'stripe',
          stripeEvent('checkout.session.completed', checkoutSession(newSessionId()), {
            livemode: live,
          }),
        );

      // Act
      const testOnLive = await liveOnly(session(false));
      const liveOnTest = await testOnly(session(true));
      const liveOnLive = await liveOnly(session(true));

      // Assess
      expect([testOnLive, liveOnTest, liveOnLive].map((r) => r.statusCode)).toEqual([
        200, 200, 200,
      ]);
      expect([testOnLive, liveOnTest, liveOnLive].map(resultOf)).toEqual([
        'ignored',
        'ignored',
        'credited',
      ]);
      expect(credits()).toEqual(['88:10']);
    });
  });

  describe('point 9: epay as 彩虹易支付 sends it', () => {
    const epayGet = (params: Record<string, string>, provider = 'epay') => {
      const event = apiEvent(
        provider,
        '',
        {},
        {
          rawQueryString: new URLSearchParams(params).toString(),
        },
      );
      return {
        ...event,
        routeKey: 'GET /webhooks/epay',
        requestContext: {
          ...event.requestContext,
          http: { ...event.requestContext.http, method: 'GET' },
        },
      };
    };

    it('credits a GET notification once and answers plain success', async () => {
      // Prepare
      const handler = handlerOf();
      const params = epayParams(epayNotify({ out_trade_no: `shop-${randomUUID()}` }));

      // Act
      const first = await handler(epayGet(params));
      const again = await handler(epayGet(params));

      // Assess
      expect([first.statusCode, first.body, again.statusCode, again.body]).toEqual([
        200,
        'success',
        200,
        'success',
      ]);
      expect(credits()).toEqual(['88:5']);
    });

    it('refuses GET for other providers, and epay without payments.epay.pid', async () => {
      // Prepare
      const params = epayParams(epayNotify({ out_trade_no: `shop-${randomUUID()}` }), EPAY_KEY);

      // Act
      const stripeGet = await handlerOf()(epayGet(params, 'stripe'));
      const noPid = await handlerOf({ epay: {} })(epayGet(params));

      // Assess
      expect(stripeGet.statusCode).toBe(405);
      expect(stripeGet.headers).toMatchObject({ allow: 'POST' });
      expect(noPid.statusCode).toBe(500);
      expect(noPid.body).not.toMatch(/pid/);
      expect(credits()).toEqual([]);
    });
  });

  describe('point 10: Checkout with tax or a discount', () => {
    it('matches the catalog against amount_subtotal, records tax, prorates refunds on the charge', async () => {
      // Prepare: 10 usd of gb10 + 2 usd tax = 12 usd charged.
      const handler = handlerOf();
      const id = newSessionId();
      const session = {
        ...checkoutSession(id, { amount: 1200 }),
        amount_subtotal: 1000,
        total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 200 },
      };

      // Act
      const paid = await handler(
        stripeDelivery('stripe', stripeEvent('checkout.session.completed', session)),
      );
      const half = await handler(refunded(id, 600));

      // Assess
      expect(resultOf(paid)).toBe('credited');
      expect(await order(id)).toMatchObject({
        amountMinor: 1200,
        subtotalMinor: 1000,
        taxMinor: 200,
      });
      expect(resultOf(half)).toBe('deducted');
      expect(deductions()).toEqual(['88:5']);
    });

    it('replays a taxed order that failed for now, matching the catalog as the paid event did', async () => {
      // Prepare
      const handler = handlerOf();
      const id = newSessionId();
      const session = { ...checkoutSession(id, { amount: 1200 }), amount_subtotal: 1000 };
      fx.sim.addFault({ kind: 'status', status: 502, endpoint: 'rechargeTrafficCount', times: 1 });
      const paid = await handler(
        stripeDelivery('stripe', stripeEvent('checkout.session.completed', session)),
      );

      // Act
      const replay = await replayOrder(pay.replayDeps(), { provider: 'stripe', paymentId: id });

      // Assess
      expect(paid.statusCode).toBe(503);
      expect(replay.outcome).toBe('credited');
      expect(credits()).toEqual(['88:10']);
    });

    it('takes the quantity from amount_subtotal ÷ price when metadata has none, with a discount', async () => {
      // Prepare: two gb10 (2000), a 500 discount: 1500 charged, no quantity in metadata.
      const handler = handlerOf();
      const two = { ...checkoutSession(newSessionId(), { amount: 1500 }), amount_subtotal: 2000 };
      const odd = { ...checkoutSession(newSessionId(), { amount: 1500 }), amount_subtotal: 1500 };

      // Act
      const credited = await handler(
        stripeDelivery('stripe', stripeEvent('checkout.session.completed', two)),
      );
      const rejected = await handler(
        stripeDelivery('stripe', stripeEvent('checkout.session.completed', odd)),
      );

      // Assess
      expect([resultOf(credited), resultOf(rejected)]).toEqual(['credited', 'rejected']);
      expect(credits()).toEqual(['88:20']);
      expect(sink.events[0]?.summary).toMatch(/subtotal 1500 usd is not a whole number/);
    });

    it('holds a 100 % discount (no_payment_required) for a human by default', async () => {
      // Prepare
      const id = newSessionId();
      const free = {
        ...checkoutSession(id, {
          amount: 0,
          paymentStatus: 'no_payment_required',
          paymentIntent: null,
        }),
        amount_subtotal: 1000,
      };

      // Act
      const res = await handlerOf()(
        stripeDelivery('stripe', stripeEvent('checkout.session.completed', free)),
      );

      // Assess
      expect(resultOf(res)).toBe('held');
      expect(await order(id)).toMatchObject({ state: 'HELD', reason: 'no-payment-required' });
      expect(credits()).toEqual([]);
    });
  });
});

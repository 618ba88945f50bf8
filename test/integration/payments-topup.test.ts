import { randomUUID } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import type { PaymentsConfig } from '../../functions/commons/config/payments.ts';
import { capMonth, deriveOrderId } from '../../functions/commons/payments/catalog.ts';
import { ledgerKeys } from '../../functions/commons/payments/ledger/ledger.ts';
import { usePaymentWebhook } from '../helpers/payments.ts';
import {
  apiEvent,
  checkoutCompleted,
  checkoutSession,
  countRequests,
  epayNotify,
  epayParams,
  formBody,
  newSessionId,
  standardHeaders,
  standardPayload,
  stripeDelivery,
  stripeEvent,
  testPaymentsConfig,
} from './payments-fixtures.ts';

describe('payment webhooks: exactly-once top-up (DynamoDB Local + simulator)', () => {
  const pay = usePaymentWebhook({ table: 'payments-topup', customers: ['88', '89'] });
  const { fx, table, ledger, sink } = pay;
  const requests = countRequests(table.client);
  let now: Date;

  beforeEach(() => {
    now = new Date();
    fx.sim.addCustomer({ customerId: '90', inChannel: false });
  });

  function handlerWith(
    opts: { config?: PaymentsConfig; attempts?: number } = {},
  ): ReturnType<typeof pay.handler> {
    return pay.handler({
      upstream: fx.client({
        retry: { attempts: opts.attempts ?? 1, baseDelayMs: 1, maxDelayMs: 2 },
      }),
      clock: () => now,
      config: opts.config ?? testPaymentsConfig(),
    });
  }

  async function order(provider: string, paymentId: string) {
    const out = await table.doc.send(
      new GetCommand({
        TableName: table.tableName,
        Key: ledgerKeys.order({ provider, paymentId }),
      }),
    );
    return out.Item;
  }

  describe('Stripe Checkout', () => {
    it('credits a fresh paid session once, in two DynamoDB requests', async () => {
      // Prepare
      const handler = handlerWith();
      const id = newSessionId();
      requests.reset();

      // Act
      const res = await handler(checkoutCompleted(id));

      // Assess
      expect(res.statusCode).toBe(200);
      expect(JSON.parse(res.body ?? '')).toEqual({ received: true, result: 'credited' });
      expect(requests.total()).toBe(2);
      expect(fx.sim.ledger()).toEqual([
        expect.objectContaining({
          orderId: deriveOrderId('stripe', id),
          customerId: '88',
          trafficGb: '10',
        }),
      ]);
      expect(await order('stripe', id)).toMatchObject({
        state: 'CREDITED',
        orderId: deriveOrderId('stripe', id),
        gsi1pk: 'ORDERS#CREDITED',
        paymentIntentId: `pi_${id}`,
        gb: '10',
      });
      const credits = await ledger.listCredited(
        new Date(now.getTime() - 1000),
        new Date(now.getTime() + 1000),
      );
      expect(credits.map((c) => [c.orderKey, c.customerId, c.gb.toFixed()])).toContainEqual([
        `ORDER#stripe#${id}`,
        '88',
        '10',
      ]);
    });

    it('stores exactly these attributes on a credited order, its PaymentIntent pointer and a rejected order', async () => {
      // Prepare
      const handler = handlerWith();
      const id = newSessionId();
      const unknown = newSessionId();
      const at = now.toISOString();

      // Act
      await handler(checkoutCompleted(id));
      await handler(checkoutCompleted(unknown, { pkg: 'no-such-package' }));

      // Assess: every attribute, nothing more.
      expect(await order('stripe', id)).toEqual({
        pk: `ORDER#stripe#${id}`,
        sk: 'ORDER',
        gsi1pk: 'ORDERS#CREDITED',
        gsi1sk: at,
        provider: 'stripe',
        paymentId: id,
        orderId: deriveOrderId('stripe', id),
        customerId: '88',
        packageId: 'gb10',
        quantity: 1,
        gb: '10',
        amountMinor: 1000,
        currency: 'usd',
        paymentIntentId: `pi_${id}`,
        state: 'CREDITED',
        capMonth: capMonth(now, testPaymentsConfig().capTimeZone),
        attempts: 1,
        createdAt: at,
        updatedAt: at,
        creditedAt: at,
        refundedMinor: 0,
        deductedMinor: 0,
        deductedGb: '0',
        version: 0,
        upstreamCode: 200,
        upstreamMessage: expect.any(String),
      });
      const pointer = await table.doc.send(
        new GetCommand({ TableName: table.tableName, Key: ledgerKeys.paymentIntent(`pi_${id}`) }),
      );
      expect(pointer.Item).toEqual({
        pk: `PI#pi_${id}`,
        sk: 'PI',
        provider: 'stripe',
        paymentId: id,
      });
      expect(await order('stripe', unknown)).toEqual({
        pk: `ORDER#stripe#${unknown}`,
        sk: 'ORDER',
        gsi1pk: 'ORDERS#REJECTED',
        gsi1sk: at,
        provider: 'stripe',
        paymentId: unknown,
        orderId: deriveOrderId('stripe', unknown),
        customerId: '88',
        quantity: 1,
        amountMinor: 1000,
        currency: 'usd',
        paymentIntentId: `pi_${unknown}`,
        state: 'REJECTED',
        reason: 'unknown-package',
        attempts: 0,
        createdAt: at,
        updatedAt: at,
        // Its alert went out: the sweep leaves it be.
        alertedAt: at,
        refundedMinor: 0,
        deductedMinor: 0,
        deductedGb: '0',
        version: 0,
      });
    });

    it('answers a duplicate of a credited order from one DynamoDB request, without the upstream', async () => {
      // Prepare
      const handler = handlerWith();
      const id = newSessionId();
      await handler(checkoutCompleted(id));
      fx.sim.clearCalls();
      requests.reset();

      // Act
      const res = await handler(checkoutCompleted(id));

      // Assess
      expect(res.statusCode).toBe(200);
      expect(JSON.parse(res.body ?? '').result).toBe('already-credited');
      expect(requests.total()).toBe(1);
      expect(fx.sim.callCount('rechargeTrafficCount')).toBe(0);
    });

    it('credits 50 concurrent deliveries of one payment exactly once', async () => {
      // Prepare
      const handler = handlerWith();
      const id = newSessionId();
      const payload = stripeEvent('checkout.session.completed', checkoutSession(id));
      fx.sim.addFault({ kind: 'latency', endpoint: 'rechargeTrafficCount', delayMs: 100 });

      // Act
      const answers = await Promise.all(
        Array.from({ length: 50 }, () => handler(stripeDelivery('stripe', payload))),
      );

      // Assess
      expect(fx.sim.ledger()).toHaveLength(1);
      expect(fx.sim.callCount('rechargeTrafficCount')).toBe(1);
      const statuses = answers.map((a) => a.statusCode);
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(1);
      expect(statuses.every((s) => s === 200 || s === 409)).toBe(true);
      for (const a of answers.filter((x) => x.statusCode === 409)) {
        expect(Number(a.headers?.['retry-after'])).toBeGreaterThanOrEqual(1);
      }
      expect((await order('stripe', id))?.state).toBe('CREDITED');
    });

    it('credits completed and async_payment_succeeded of one session once', async () => {
      // Prepare
      const handler = handlerWith();
      const id = newSessionId();
      const pending = checkoutSession(id, { paymentStatus: 'unpaid' });
      const paid = checkoutSession(id);

      // Act
      const first = await handler(
        stripeDelivery('stripe', stripeEvent('checkout.session.completed', pending)),
      );
      const second = await handler(
        stripeDelivery('stripe', stripeEvent('checkout.session.async_payment_succeeded', paid)),
      );
      const third = await handler(
        stripeDelivery('stripe', stripeEvent('checkout.session.completed', paid)),
      );

      // Assess
      expect(JSON.parse(first.body ?? '').result).toBe('ignored');
      expect(JSON.parse(second.body ?? '').result).toBe('credited');
      expect(JSON.parse(third.body ?? '').result).toBe('already-credited');
      expect(fx.sim.ledger()).toHaveLength(1);
    });

    it('records an async payment failure and never credits that session', async () => {
      // Prepare
      const handler = handlerWith();
      const id = newSessionId();

      // Act
      const failed = await handler(
        stripeDelivery(
          'stripe',
          stripeEvent('checkout.session.async_payment_failed', checkoutSession(id)),
        ),
      );
      const late = await handler(checkoutCompleted(id));

      // Assess
      expect(failed.statusCode).toBe(200);
      expect(JSON.parse(late.body ?? '').result).toBe('payment-failed');
      expect(fx.sim.callCount('rechargeTrafficCount')).toBe(0);
      expect((await order('stripe', id))?.state).toBe('PAYMENT_FAILED');
    });

    it('heals "applied, then the connection dropped" on the provider\'s retry', async () => {
      // Prepare
      const handler = handlerWith();
      const id = newSessionId();
      fx.sim.addFault({ kind: 'drop-after-apply', endpoint: 'rechargeTrafficCount', times: 1 });

      // Act
      const first = await handler(checkoutCompleted(id));
      const afterFirst = await order('stripe', id);
      const retry = await handler(checkoutCompleted(id));

      // Assess
      expect(first.statusCode).toBe(503);
      expect(first.headers?.['retry-after']).toBeDefined();
      expect(JSON.parse(first.body ?? '')).toEqual({ message: 'retry-later' });
      expect(afterFirst).toMatchObject({ state: 'RECEIVED', gsi1pk: 'ORDERS#RECEIVED' });
      expect(retry.statusCode).toBe(200);
      expect(fx.sim.ledger()).toHaveLength(1);
      expect(fx.sim.callCount('rechargeTrafficCount')).toBe(2);
      expect(await order('stripe', id)).toMatchObject({ state: 'CREDITED', upstreamCode: 201 });
    });

    it('makes no upstream call while another delivery holds the lease, and retries after it expires', async () => {
      // Prepare: a delivery claimed the order and then died (Lambda timeout).
      const handler = handlerWith();
      const id = newSessionId();
      await ledger.createOrder(
        {
          provider: 'stripe',
          paymentId: id,
          orderId: deriveOrderId('stripe', id),
          state: 'CREDITING',
          customerId: '88',
          packageId: 'gb10',
          quantity: 1,
          gb: '10',
          amountMinor: 1000,
          currency: 'usd',
        },
        { now, lease: { owner: 'crashed', until: now.getTime() + 60_000 } },
      );

      // Act
      const during = await handler(checkoutCompleted(id));
      now = new Date(now.getTime() + 61_000);
      const after = await handler(checkoutCompleted(id));

      // Assess
      expect(during.statusCode).toBe(409);
      expect(during.headers?.['retry-after']).toBe('60');
      expect(after.statusCode).toBe(200);
      expect(fx.sim.callCount('rechargeTrafficCount')).toBe(1);
      expect(await order('stripe', id)).toMatchObject({ state: 'CREDITED', attempts: 2 });
    });

    it('finishes an accepted order as recorded even when the catalog or limits changed since', async () => {
      // Prepare: two orders accepted at 10 GB for 1000 cents; one released its lease after a
      // transient failure, the other's delivery died. Then gb10 is repriced and the per-order
      // maximum lowered below 10 GB.
      const [received, crashed] = [newSessionId(), newSessionId()];
      for (const id of [received, crashed]) {
        await ledger.createOrder(
          {
            provider: 'stripe',
            paymentId: id,
            orderId: deriveOrderId('stripe', id),
            state: id === received ? 'RECEIVED' : 'CREDITING',
            customerId: '88',
            packageId: 'gb10',
            quantity: 1,
            gb: '10',
            amountMinor: 1000,
            currency: 'usd',
          },
          { now, lease: { owner: 'crashed', until: now.getTime() - 1 } },
        );
      }
      const repriced = handlerWith({
        config: testPaymentsConfig({
          catalog: { gb10: { gb: 10, price: 2000, currency: 'usd' } },
        }),
      });
      const lowered = handlerWith({ config: testPaymentsConfig({ maxGbPerOrder: 5 }) });

      // Act
      const first = await repriced(checkoutCompleted(received));
      const second = await lowered(checkoutCompleted(crashed));

      // Assess
      expect([first, second].map((r) => JSON.parse(r.body ?? '').result)).toEqual([
        'credited',
        'credited',
      ]);
      expect(fx.sim.ledger().map((r) => r.trafficGb)).toEqual(['10', '10']);
      expect(await order('stripe', received)).toMatchObject({ state: 'CREDITED' });
      expect(await order('stripe', crashed)).toMatchObject({ state: 'CREDITED' });
      expect(sink.events).toEqual([]);
    });

    it('records 204 "not our customer" as a permanent failure, alerts and gives the cap back', async () => {
      // Prepare
      const handler = handlerWith();
      const id = newSessionId();
      const month = now.toISOString().slice(0, 7);

      // Act
      const res = await handler(checkoutCompleted(id, { customerId: '90' }));

      // Assess
      expect(res.statusCode).toBe(200);
      expect(await order('stripe', id)).toMatchObject({
        state: 'FAILED_PERMANENT',
        reason: 'not-channel-customer',
        upstreamCode: 204,
      });
      expect(sink.kinds()).toEqual(['topup-failed']);
      const counter = await table.doc.send(
        new GetCommand({ TableName: table.tableName, Key: ledgerKeys.month('90', month) }),
      );
      expect(counter.Item?.gb).toBe(0);
    });

    it('keeps an order refused with an undocumented code retryable, alerts, and credits it once the cause is fixed', async () => {
      // Prepare: the agent's pool is empty, so the upstream refuses with its own code.
      const handler = handlerWith();
      const id = newSessionId();
      fx.sim.addFault({
        kind: 'code',
        endpoint: 'rechargeTrafficCount',
        code: 500,
        msg: '流量不足',
        times: 1,
      });

      // Act
      const refused = await handler(checkoutCompleted(id));
      const stateAfterRefusal = await order('stripe', id);
      const retried = await handler(checkoutCompleted(id));

      // Assess
      expect(refused.statusCode).toBe(503);
      expect(stateAfterRefusal).toMatchObject({ state: 'RECEIVED' });
      expect(sink.events).toEqual([
        expect.objectContaining({
          kind: 'topup-failed',
          severity: 'critical',
          details: expect.objectContaining({ upstreamCode: '500', upstreamMessage: '流量不足' }),
        }),
      ]);
      expect(retried.statusCode).toBe(200);
      expect(await order('stripe', id)).toMatchObject({ state: 'CREDITED' });
      expect(fx.sim.ledger()).toHaveLength(1);
    });

    it('answers 503 and keeps the order retryable when the upstream is down', async () => {
      // Prepare
      const handler = handlerWith({ attempts: 2 });
      const id = newSessionId();
      fx.sim.addFault({ kind: 'status', status: 502, endpoint: 'rechargeTrafficCount', times: 2 });

      // Act
      const down = await handler(checkoutCompleted(id));
      const up = await handler(checkoutCompleted(id));

      // Assess
      expect(down.statusCode).toBe(503);
      expect(up.statusCode).toBe(200);
      expect(fx.sim.ledger()).toHaveLength(1);
    });
  });

  describe('catalog and limits', () => {
    it('rejects an amount that is not price × quantity, alerts, and credits nothing', async () => {
      // Prepare
      const handler = handlerWith();
      const id = newSessionId();

      // Act
      const res = await handler(checkoutCompleted(id, { quantity: '2', amount: 1000 }));
      const again = await handler(checkoutCompleted(id, { quantity: '2', amount: 1000 }));

      // Assess
      expect(JSON.parse(res.body ?? '').result).toBe('rejected');
      expect(JSON.parse(again.body ?? '').result).toBe('rejected');
      expect(await order('stripe', id)).toMatchObject({
        state: 'REJECTED',
        reason: 'amount-mismatch',
      });
      expect(sink.kinds()).toEqual(['amount-mismatch']);
      expect(fx.sim.callCount('rechargeTrafficCount')).toBe(0);
    });

    it('credits quantity × package GB when the amount matches', async () => {
      // Prepare
      const handler = handlerWith();
      const id = newSessionId();

      // Act
      const res = await handler(
        checkoutCompleted(id, { pkg: 'gb100', quantity: '3', amount: 24_000 }),
      );

      // Assess
      expect(res.statusCode).toBe(200);
      expect(fx.sim.ledger()[0]?.trafficGb).toBe('300');
    });

    it('holds an order over the per-order maximum for a human', async () => {
      // Prepare
      const handler = handlerWith();
      const id = newSessionId();

      // Act
      const res = await handler(
        checkoutCompleted(id, { pkg: 'gb100', quantity: '6', amount: 48_000 }),
      );

      // Assess
      expect(JSON.parse(res.body ?? '').result).toBe('held');
      expect(await order('stripe', id)).toMatchObject({ state: 'HELD', reason: 'order-max' });
      expect(sink.kinds()).toEqual(['order-held']);
      expect(fx.sim.callCount('rechargeTrafficCount')).toBe(0);
    });

    it('keeps the monthly cap exact under concurrent orders of one customer', async () => {
      // Prepare: cap 250 GB, ten concurrent orders of 100 GB for customer 89.
      const handler = handlerWith({ config: testPaymentsConfig({ monthlyCapGbPerCustomer: 250 }) });
      const ids = Array.from({ length: 10 }, newSessionId);

      // Act
      const answers = await Promise.all(
        ids.map((id) =>
          handler(checkoutCompleted(id, { customerId: '89', pkg: 'gb100', amount: 8000 })),
        ),
      );

      // Assess
      const results = answers.map((a) => JSON.parse(a.body ?? '').result);
      expect(results.filter((r) => r === 'credited')).toHaveLength(2);
      expect(results.filter((r) => r === 'held')).toHaveLength(8);
      expect(fx.sim.ledger()).toHaveLength(2);
      expect(sink.kinds().every((k) => k === 'order-held')).toBe(true);
    });

    it('follows a changed monthly cap from one delivery to the next, never an answer for the old one', async () => {
      // Prepare: two customers of their own, so that other tests' credits leave their months alone.
      const [a, b] = [
        String(700_000 + Math.floor(Math.random() * 99_999)),
        String(800_000 + Math.floor(Math.random() * 99_999)),
      ];
      for (const customerId of [a, b]) fx.sim.addCustomer({ customerId });
      const capped = (cap: string) =>
        handlerWith({ config: testPaymentsConfig({ monthlyCapGbPerCustomer: cap }) });
      const buy = async (cap: string, customerId: string) => {
        const res = await capped(cap)(checkoutCompleted(newSessionId(), { customerId }));
        return JSON.parse(res.body ?? '').result as string;
      };

      // Act: 10 GB orders under caps of 15, 5, 15, 25 and 15 GB.
      const results = [
        await buy('15', a), // a: 10 of 15
        await buy('5', b), // over a 5 GB cap on its own
        await buy('15', b), // b: 10 of 15
        await buy('25', a), // a: 20 of 25
        await buy('15', a), // a would be at 30 of 15
      ];

      // Assess
      expect(results).toEqual(['credited', 'held', 'credited', 'credited', 'held']);
      const month = capMonth(now, testPaymentsConfig().capTimeZone);
      const counters = await Promise.all(
        [a, b].map((c) =>
          table.doc.send(
            new GetCommand({ TableName: table.tableName, Key: ledgerKeys.month(c, month) }),
          ),
        ),
      );
      expect(counters.map((c) => c.Item?.gb)).toEqual([20, 10]);
    });
  });

  describe('ledger.releaseHeld', () => {
    it('releases only a HELD order with the customer and GB seen, once, adding its GB to the month', async () => {
      // Prepare
      const id = newSessionId();
      const key = { provider: 'stripe', paymentId: id };
      await ledger.createOrder(
        {
          provider: 'stripe',
          paymentId: id,
          orderId: deriveOrderId('stripe', id),
          state: 'HELD',
          reason: 'order-max',
          customerId: '91',
          packageId: 'gb100',
          quantity: 6,
          gb: '600',
          amountMinor: 48_000,
          currency: 'usd',
        },
        { now },
      );
      const release = (gb: string) =>
        ledger.releaseHeld(key, {
          now,
          by: 'alice',
          note: 'approved',
          version: 0,
          monthCap: { customerId: '91', month: '2031-01', gb },
        });

      // Act
      const stale = await release('60');
      const first = await release('600');
      const second = await release('600');

      // Assess
      expect(stale).toEqual({
        released: false,
        existing: expect.objectContaining({ state: 'HELD' }),
      });
      expect(first).toEqual({ released: true });
      expect(second).toEqual({
        released: false,
        existing: expect.objectContaining({ state: 'RECEIVED', releasedBy: 'alice' }),
      });
      expect(await order('stripe', id)).toMatchObject({
        state: 'RECEIVED',
        gsi1pk: 'ORDERS#RECEIVED',
        capMonth: '2031-01',
        releasedAt: now.toISOString(),
        releaseNote: 'approved',
        reason: 'order-max',
      });
      const counter = await table.doc.send(
        new GetCommand({ TableName: table.tableName, Key: ledgerKeys.month('91', '2031-01') }),
      );
      expect(counter.Item?.gb).toBe(600);
    });
  });

  describe('standard and epay providers', () => {
    it('credits a Standard Webhooks payment.succeeded once', async () => {
      // Prepare
      const handler = handlerWith();
      const paymentId = `ord_${randomUUID()}`;
      const payload = standardPayload('payment.succeeded', {
        paymentId,
        customerId: 88,
        package: 'gb10',
        quantity: 2,
        amount: 2000,
        currency: 'USD',
      });

      // Act
      const first = await handler(apiEvent('standard', payload, standardHeaders(payload)));
      const dup = await handler(apiEvent('standard', payload, standardHeaders(payload)));

      // Assess
      expect(JSON.parse(first.body ?? '').result).toBe('credited');
      expect(JSON.parse(dup.body ?? '').result).toBe('already-credited');
      expect(fx.sim.ledger()).toEqual([
        expect.objectContaining({ orderId: deriveOrderId('standard', paymentId), trafficGb: '20' }),
      ]);
    });

    it('credits an epay TRADE_SUCCESS from a form body and answers plain "success"', async () => {
      // Prepare
      const handler = handlerWith();
      const outTradeNo = `shop-${randomUUID()}`;
      const params = epayParams(epayNotify({ out_trade_no: outTradeNo, param: '88:cn5' }));
      const event = apiEvent('epay', formBody(params), {
        'content-type': 'application/x-www-form-urlencoded',
      });

      // Act
      const first = await handler(event);
      const dup = await handler(event);

      // Assess
      expect(first).toMatchObject({ statusCode: 200, body: 'success' });
      expect(dup).toMatchObject({ statusCode: 200, body: 'success' });
      expect(fx.sim.ledger()).toEqual([
        expect.objectContaining({ orderId: deriveOrderId('epay', outTradeNo), trafficGb: '5' }),
      ]);
    });

    it('reads an epay notification from the query string when the body is empty', async () => {
      // Prepare
      const handler = handlerWith();
      const params = epayParams(epayNotify({ out_trade_no: `shop-${randomUUID()}` }));
      const event = apiEvent('epay', '', {}, { rawQueryString: formBody(params) });

      // Act
      const res = await handler(event);

      // Assess
      expect(res).toMatchObject({ statusCode: 200, body: 'success' });
      expect(fx.sim.ledger()).toHaveLength(1);
    });
  });
});

import { describe, expect, it } from 'vitest';
import type { DynamoLedger } from '../../functions/commons/payments/ledger/ledger.ts';
import { sweepStuckDeductions } from '../../functions/commons/payments/sweep.ts';
import { usePaymentWebhook } from '../helpers/payments.ts';
import {
  chargeRefunded,
  checkoutCompleted,
  checkoutSession,
  newSessionId,
  stripeDelivery,
  stripeDispute,
  stripeEvent,
  testPaymentsConfig,
} from './payments-fixtures.ts';

/** Issue #26 A1, A7, A9: money that comes back, and sessions that cannot be refunded. */
describe('payment webhooks: disputes, failed refunds, sessions without a PaymentIntent', () => {
  const pay = usePaymentWebhook({ table: 'reversals', customers: ['88'] });
  const { fx, ledger, sink, sweepDeps } = pay;
  const handlerOf = pay.handler;
  const resultOf = (res: { body?: string }) => JSON.parse(res.body ?? '{}').result;
  const refunded = (id: string, total: number, created?: number) =>
    chargeRefunded(`ch_${id}`, `pi_${id}`, total, created);
  const refundFailed = (id: string, amount: number, created?: number) =>
    stripeDelivery(
      'stripe',
      stripeEvent(
        'charge.refund.updated',
        {
          id: `re_${id}`,
          object: 'refund',
          amount,
          currency: 'usd',
          status: 'failed',
          payment_intent: `pi_${id}`,
        },
        created === undefined ? {} : { created },
      ),
    );
  /** A dispute as Stripe sends it: its balance transactions say what was taken and returned. */
  const dispute = stripeDispute;
  const net = pay.netGb;

  describe('A1: a dispute after a partial refund', () => {
    it('gives back the 6 GB a won dispute took, not the 10 it was for', async () => {
      // Prepare: 10 GB paid, 4 $ refunded, then the whole charge disputed.
      const handler = handlerOf();
      const id = newSessionId();
      await handler(checkoutCompleted(id));
      await handler(refunded(id, 400));
      const taken = await handler(
        dispute(id, 'charge.dispute.funds_withdrawn', { status: 'needs_response' }),
      );
      expect(resultOf(taken)).toBe('deducted');
      expect(net()).toBe(0);

      // Act: the shop wins; Stripe returns the 10 $.
      const won = await handler(
        dispute(id, 'charge.dispute.funds_reinstated', { status: 'won', reinstated: 1000 }),
      );

      // Assess: the customer holds what was paid and not refunded.
      expect(resultOf(won)).toBe('given-back');
      expect(net()).toBe(6);
    });

    it('gives nothing back for a lost dispute whose refunded part Stripe reinstated', async () => {
      // Prepare
      const handler = handlerOf();
      const id = newSessionId();
      await handler(checkoutCompleted(id));
      await handler(refunded(id, 400));
      await handler(dispute(id, 'charge.dispute.funds_withdrawn', { status: 'needs_response' }));

      // Act: lost; Stripe gives back the 4 $ already refunded (disputes on refunded payments).
      const lost = await handler(
        dispute(id, 'charge.dispute.funds_reinstated', { status: 'lost', reinstated: 400 }),
      );

      // Assess
      expect(lost.statusCode).toBe(200);
      expect(net()).toBe(0);
    });

    it('keeps a dispute that outlives a failed refund: the refund failing gives nothing back', async () => {
      // Prepare: 4 $ refunded, the whole charge disputed (10 GB gone), then the refund fails.
      const handler = handlerOf();
      const id = newSessionId();
      await handler(checkoutCompleted(id));
      await handler(refunded(id, 400));
      await handler(dispute(id, 'charge.dispute.funds_withdrawn', { status: 'needs_response' }));

      // Act
      const back = await handler(refundFailed(id, 400));

      // Assess: the dispute still holds the whole 10 $.
      expect(back.statusCode).toBe(200);
      expect(net()).toBe(0);
    });
  });

  describe('A7: Checkout Sessions without a PaymentIntent', () => {
    it('credits nothing for a setup-mode session: it only saves a card (the opt-in reads it)', async () => {
      const handler = handlerOf();
      const id = newSessionId();
      const session = {
        ...checkoutSession(id, { paymentIntent: null }),
        mode: 'setup',
        setup_intent: 'seti_1',
      };
      const res = await handler(
        stripeDelivery('stripe', stripeEvent('checkout.session.completed', session)),
      );
      expect(res.statusCode).toBe(200);
      expect(resultOf(res)).toBe('card-saved');
      expect(fx.sim.ledger()).toEqual([]);
      expect(await ledger.getOrder({ provider: 'stripe', paymentId: id })).toBeUndefined();
    });

    it.each([['subscription', { mode: 'subscription', subscription: 'sub_1', invoice: 'in_1' }]])(
      'refuses a %s-mode session with a recorded answer and an alert',
      async (_mode, extra) => {
        // Prepare
        const handler = handlerOf();
        const id = newSessionId();
        const session = { ...checkoutSession(id, { paymentIntent: null }), ...extra };

        // Act
        const res = await handler(
          stripeDelivery('stripe', stripeEvent('checkout.session.completed', session)),
        );
        const again = await handler(
          stripeDelivery('stripe', stripeEvent('checkout.session.completed', session)),
        );

        // Assess
        expect(res.statusCode).toBe(200);
        expect(resultOf(res)).toBe('rejected');
        expect(resultOf(again)).toBe('rejected');
        expect(fx.sim.ledger()).toEqual([]);
        expect(await ledger.getOrder({ provider: 'stripe', paymentId: id })).toMatchObject({
          state: 'REJECTED',
          reason: 'no-refund-path',
        });
        expect(sink.kinds()).toEqual(['topup-failed']);
      },
    );

    it('refuses a paid payment-mode session that names no PaymentIntent', async () => {
      const handler = handlerOf();
      const id = newSessionId();
      const res = await handler(checkoutCompleted(id, { paymentIntent: null }));
      expect(resultOf(res)).toBe('rejected');
      expect(fx.sim.ledger()).toEqual([]);
    });
  });

  describe('A9: a failed refund before its order is credited', () => {
    it('is kept when the payment is not known yet, and applied to the credit', async () => {
      // Prepare: a refund of 4 $, then its failure, both before the paid event.
      const handler = handlerOf();
      const id = newSessionId();
      await handler(refunded(id, 400));

      // Act
      const failed = await handler(refundFailed(id, 400));
      const credited = await handler(checkoutCompleted(id));

      // Assess: nothing was refunded after all: 10 GB.
      expect(failed.statusCode).toBe(200);
      expect(resultOf(failed)).toBe('recorded-before-payment');
      expect(resultOf(credited)).toBe('credited');
      expect(net()).toBe(10);
    });

    it('is kept while the order is being credited, and applied when the credit ends', async () => {
      // Prepare: the refund was applied before the payment; the recharge then fails for now.
      const handler = handlerOf();
      const id = newSessionId();
      await handler(refunded(id, 400));
      fx.sim.addFault({ kind: 'status', status: 502, endpoint: 'rechargeTrafficCount', times: 1 });
      expect((await handler(checkoutCompleted(id))).statusCode).toBe(503);

      // Act: the refund fails while the order is RECEIVED; then the paid event is retried.
      const failed = await handler(refundFailed(id, 400));
      const retried = await handler(checkoutCompleted(id));
      const again = await handler(refundFailed(id, 400));

      // Assess
      expect(failed.statusCode).toBe(409);
      expect(resultOf(retried)).toBe('credited');
      expect(again.statusCode).toBe(200);
      expect(net()).toBe(10);
    });
  });

  describe('found by the payments model (test/model)', () => {
    // Stripe's history: 4 $ refunded (t1), that refund failed (t2), 4 $ refunded again (t3).
    const t1 = 1_700_000_000;
    const history = (id: string) => ({
      first: refunded(id, 400, t1),
      failed: refundFailed(id, 400, t1 + 10),
      again: refunded(id, 400, t1 + 20),
    });

    it.each([
      ['first, again, failed', ['first', 'again', 'failed'] as const],
      ['failed, first, again', ['failed', 'first', 'again'] as const],
      ['again, failed, first', ['again', 'failed', 'first'] as const],
      ['first, failed, again', ['first', 'failed', 'again'] as const],
    ])(
      'a failed refund and a new refund of the same total, delivered %s: 6 GB',
      async (_, order) => {
        // Prepare
        const handler = handlerOf();
        const id = newSessionId();
        const events = history(id);
        await handler(checkoutCompleted(id));

        // Act
        const answers = [];
        for (const name of order) answers.push(await handler(events[name]));

        // Assess: refunded 4 of 10 $ in the end.
        expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200]);
        expect(net()).toBe(6);
      },
    );

    it('a won dispute reinstated before its payment and its dispute are known: 10 GB', async () => {
      // Prepare
      const handler = handlerOf();
      const id = newSessionId();
      const reinstated = dispute(id, 'charge.dispute.funds_reinstated', {
        status: 'won',
        reinstated: 1000,
      });

      // Act: Stripe's three events delivered backwards, the first redelivered at the end.
      const early = await handler(reinstated);
      await handler(checkoutCompleted(id));
      await handler(dispute(id, 'charge.dispute.funds_withdrawn', { status: 'needs_response' }));
      const retried = await handler(reinstated);

      // Assess: asked to come back until the dispute was known, then given back.
      expect(early.statusCode).toBe(409);
      expect(resultOf(retried)).toBe('given-back');
      expect(net()).toBe(10);
    });

    it('a payment disputed in full before it was known, then the dispute won: 10 GB', async () => {
      // Prepare
      const handler = handlerOf();
      const id = newSessionId();
      await handler(dispute(id, 'charge.dispute.funds_withdrawn', { status: 'needs_response' }));
      expect(resultOf(await handler(checkoutCompleted(id)))).toBe('refunded');

      // Act
      const won = await handler(
        dispute(id, 'charge.dispute.funds_reinstated', { status: 'won', reinstated: 1000 }),
      );

      // Assess
      expect(resultOf(won)).toBe('given-back');
      expect(net()).toBe(10);
    });

    it('a refund whose deduction is UNKNOWN then fails: nothing given back, a person told', async () => {
      // Prepare: the deduction's answer is lost (502), so its outcome is unknown.
      const handler = handlerOf();
      const id = newSessionId();
      await handler(checkoutCompleted(id));
      fx.sim.addFault({ kind: 'status', status: 502, endpoint: 'deductionFlow', times: 1 });
      expect(resultOf(await handler(refunded(id, 400)))).toBe('deduction-unknown');

      // Act
      const failed = await handler(refundFailed(id, 400));

      // Assess: never above what was paid; the person sees both.
      expect(resultOf(failed)).toBe('needs-a-person');
      expect(net()).toBe(10);
      expect(sink.kinds()).toEqual(['deduction-unknown', 'deduction-unknown']);
    });

    it('a won dispute whose deduction is UNKNOWN: not silently kept, a reversal left to a person', async () => {
      // Prepare: the dispute's deduction applied upstream, its answer lost.
      const handler = handlerOf();
      const id = newSessionId();
      await handler(checkoutCompleted(id));
      fx.sim.addFault({ kind: 'drop-after-apply', endpoint: 'deductionFlow', times: 1 });
      const withdrawn = dispute(id, 'charge.dispute.funds_withdrawn', { status: 'needs_response' });
      expect(resultOf(await handler(withdrawn))).toBe('deduction-unknown');

      // Act
      const won = await handler(
        dispute(id, 'charge.dispute.funds_reinstated', { status: 'won', reinstated: 1000 }),
      );

      // Assess: the reversal is recorded for the person, with the GB to give back, and alerted.
      expect(resultOf(won)).toBe('needs-a-person');
      const parts = await ledger.listParts({ provider: 'stripe', paymentId: id });
      expect(parts.map((p) => [p.kind, p.state, p.gb])).toEqual([
        ['dispute', 'UNKNOWN', '10'],
        ['reversal', 'UNKNOWN', '10'],
      ]);
      expect(sink.events.map((e) => [e.kind, e.subject.split(':')[0]])).toEqual([
        ['deduction-unknown', 'deduction'],
        ['deduction-unknown', 'reversal'],
      ]);
      expect(net()).toBe(0);
    });

    it('a won dispute over an UNKNOWN deduction whose delivery died before alerting: its redelivery alerts (seed 2026)', async () => {
      // Prepare: the dispute's deduction UNKNOWN; the reinstatement dies after its claim.
      const handler = handlerOf();
      const id = newSessionId();
      await handler(checkoutCompleted(id));
      fx.sim.addFault({ kind: 'drop-after-apply', endpoint: 'deductionFlow', times: 1 });
      await handler(dispute(id, 'charge.dispute.funds_withdrawn', { status: 'needs_response' }));
      const won = dispute(id, 'charge.dispute.funds_reinstated', {
        status: 'won',
        reinstated: 1000,
      });
      const dying = new Proxy(ledger, {
        get: (target, prop, receiver) =>
          prop === 'claimDeduction'
            ? async (input: Parameters<DynamoLedger['claimDeduction']>[0]) => {
                await target.claimDeduction(input);
                throw new Error('the process is gone');
              }
            : Reflect.get(target, prop, receiver),
      });
      expect((await handlerOf({ ledger: dying })(won)).statusCode).toBeGreaterThanOrEqual(500);

      // Act
      const redelivered = await handler(won);

      // Assess
      expect(resultOf(redelivered)).toBe('needs-a-person');
      expect(sink.events.map((e) => e.subject.split(':')[0])).toEqual(['deduction', 'reversal']);
    });

    it('a dispute whose delivery died after the upstream call, then won (seed 7): a person decides', async () => {
      // Prepare: the delivery dies between deductionFlow and recording it (part left DEDUCTING).
      let now = Date.now();
      const clock = () => new Date(now);
      const dying = new Proxy(ledger, {
        get: (target, prop, receiver) =>
          prop === 'settleDeduction'
            ? async () => {
                throw new Error('the process is gone');
              }
            : Reflect.get(target, prop, receiver),
      });
      const id = newSessionId();
      await handlerOf({ clock })(checkoutCompleted(id));
      const died = await handlerOf({ ledger: dying, clock })(
        dispute(id, 'charge.dispute.funds_withdrawn', { status: 'needs_response' }),
      );
      expect(died.statusCode).toBeGreaterThanOrEqual(500);
      expect(net()).toBe(0);
      now += (testPaymentsConfig().leaseSeconds + 1) * 1000;

      // Act
      const won = await handlerOf({ clock })(
        dispute(id, 'charge.dispute.funds_reinstated', { status: 'won', reinstated: 1000 }),
      );

      // Assess: the dispute's part is UNKNOWN and the give-back is a person's, both alerted.
      expect(resultOf(won)).toBe('needs-a-person');
      const parts = await ledger.listParts({ provider: 'stripe', paymentId: id });
      expect(parts.map((p) => [p.kind, p.state])).toEqual([
        ['dispute', 'UNKNOWN'],
        ['reversal', 'UNKNOWN'],
      ]);
      expect(sink.kinds().filter((k) => k === 'deduction-unknown')).toHaveLength(2);
    });

    it('a dispute delivery that died after marking its part UNKNOWN, before alerting: the redelivery alerts (seed 2026)', async () => {
      // Prepare: the first delivery dies around deductionFlow (part left DEDUCTING); past the
      // lease the second marks it UNKNOWN and dies before its alert.
      let now = Date.now();
      const clock = () => new Date(now);
      const settle = (after: boolean) =>
        new Proxy(ledger, {
          get: (target, prop, receiver) =>
            prop === 'settleDeduction'
              ? async (...args: Parameters<DynamoLedger['settleDeduction']>) => {
                  if (after) await target.settleDeduction(...args);
                  throw new Error('the process is gone');
                }
              : Reflect.get(target, prop, receiver),
        });
      const id = newSessionId();
      const withdrawn = dispute(id, 'charge.dispute.funds_withdrawn', { status: 'needs_response' });
      await handlerOf({ clock })(checkoutCompleted(id));
      await handlerOf({ ledger: settle(false), clock })(withdrawn);
      now += (testPaymentsConfig().leaseSeconds + 1) * 1000;
      await handlerOf({ ledger: settle(true), clock })(withdrawn);

      // Act
      const redelivered = await handlerOf({ clock })(withdrawn);

      // Assess: the part is a person's, and the person is told.
      expect(resultOf(redelivered)).toBe('deduction-unknown');
      expect(sink.events.map((e) => e.subject)).toEqual([`deduction:stripe:${id}:dp_${id}`]);
    });

    it('the same refunded total reported twice before the payment, the older one last: 6 GB', async () => {
      // Prepare
      const handler = handlerOf();
      const id = newSessionId();
      const events = history(id);

      // Act: the newer report, then the older one redelivered, the failure, then the payment.
      for (const name of ['again', 'first', 'failed'] as const) await handler(events[name]);
      const credited = await handler(checkoutCompleted(id));

      // Assess
      expect(resultOf(credited)).toBe('credited');
      expect(net()).toBe(6);
    });

    it('a report of the refunded total, a dispute, then an older failure, before the payment: 9.99 GB', async () => {
      // Prepare: 0.01 $ refunded (t1), that refund failed (t2), 0.01 $ refunded again (t3),
      // the rest disputed and won.
      const handler = handlerOf();
      const id = newSessionId();
      const t1 = 1_700_000_000;
      const taken = dispute(id, 'charge.dispute.funds_withdrawn', {
        amount: 999,
        status: 'needs_response',
      });
      const won = dispute(id, 'charge.dispute.funds_reinstated', {
        amount: 999,
        status: 'won',
        reinstated: 999,
      });

      // Act
      for (const e of [
        refunded(id, 1, t1),
        refunded(id, 1, t1 + 20),
        taken,
        checkoutCompleted(id),
      ]) {
        await handler(e);
      }
      await handler(refundFailed(id, 1, t1 + 10));
      await handler(won);

      // Assess: 0.01 $ of 10 $ refunded in the end.
      expect(net()).toBe(9.99);
    });

    it('a refund, then a lower total after it failed, both before the payment: 9 GB', async () => {
      // Prepare: 2 $ refunded (t1), that refund failed (t2), 1 $ refunded (t3).
      const handler = handlerOf();
      const id = newSessionId();
      const t1 = 1_700_000_000;

      // Act: both totals before the payment, the failure after it.
      await handler(refunded(id, 200, t1));
      await handler(refunded(id, 100, t1 + 20));
      await handler(checkoutCompleted(id));
      await handler(refundFailed(id, 200, t1 + 10));

      // Assess
      expect(net()).toBe(9);
    });

    it('a lower total whose give-back failed for now is finished by its redelivery: 9 GB', async () => {
      // Prepare
      const handler = handlerOf();
      const id = newSessionId();
      const t1 = 1_700_000_000;
      const lower = refunded(id, 100, t1 + 20);
      await handler(checkoutCompleted(id));
      await handler(refunded(id, 200, t1));
      fx.sim.addFault({ kind: 'status', status: 502, endpoint: 'rechargeTrafficCount', times: 1 });
      expect((await handler(lower)).statusCode).toBe(503);

      // Act
      const again = await handler(lower);

      // Assess
      expect(resultOf(again)).toBe('given-back');
      expect(net()).toBe(9);
    });
  });

  describe('a lower refunded total whose re-credit failed (adversarial review F1)', () => {
    // Stripe's history: 4 $ refunded (t1), that refund fails (its event comes late, t2), a new
    // 2 $ refund: the total is 200 (t3). The customer must hold 8 GB in the end.
    const t1 = 1_700_000_000;
    const history = (id: string) => ({
      first: refunded(id, 400, t1),
      failed: refundFailed(id, 400, t1 + 10),
      lower: refunded(id, 200, t1 + 20),
    });
    const faults = [
      ['502', { kind: 'status', status: 502 }],
      ['a reset connection', { kind: 'reset' }],
    ] as const;

    it.each(faults)(
      'lower total delivered before the failure, its re-credit answered %s, redelivered, then the failure: 8 GB',
      async (_, fault) => {
        // Prepare
        const handler = handlerOf();
        const id = newSessionId();
        const events = history(id);
        await handler(checkoutCompleted(id));
        await handler(events.first);
        fx.sim.addFault({ ...fault, endpoint: 'rechargeTrafficCount', times: 1 });
        expect((await handler(events.lower)).statusCode).toBe(503);

        // Act
        const redelivered = await handler(events.lower);
        const late = await handler(events.failed);

        // Assess
        expect(resultOf(redelivered)).toBe('given-back');
        expect(late.statusCode).toBe(200);
        expect(net()).toBe(8);
      },
    );

    it('lower total whose re-credit failed and was never redelivered: the sweep gives it back, alerting while it cannot', async () => {
      // Prepare
      const handler = handlerOf();
      const id = newSessionId();
      const events = history(id);
      await handler(checkoutCompleted(id));
      await handler(events.first);
      fx.sim.addFault({ kind: 'status', status: 502, endpoint: 'rechargeTrafficCount', times: 2 });
      expect((await handler(events.lower)).statusCode).toBe(503);
      const sweep = (at: Date) =>
        sweepStuckDeductions(
          sweepDeps({
            upstream: fx.client({ retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 2 } }),
            clock: () => at,
          }),
        );
      const later = new Date(Date.now() + 121_000);

      const state = async () =>
        (await ledger.getPart({ provider: 'stripe', paymentId: id }, `ch_${id}:200@${t1 + 20}`))
          ?.state;
      const alerts = () =>
        sink.events.filter((e) => e.subject.includes(id)).map((e) => `${e.kind}:${e.severity}`);

      // Act: within the lease, then past it with the upstream still failing, then again.
      await sweep(new Date());
      const within = await state();
      await sweep(later);
      const stuck = await state();
      const stuckAlerts = alerts();
      await sweep(later);

      // Assess
      expect(within).toBe('RECREDITING');
      expect(stuck).toBe('RECREDITING');
      expect(stuckAlerts).toEqual(['topup-failed:critical']);
      expect(await state()).toBe('RECREDITED');
      expect(net()).toBe(8);
    });
  });
});

import { describe, expect, it } from 'vitest';
import { sweepStuckDeductions } from '../../functions/commons/payments/sweep.ts';
import { useAlertingSink } from '../helpers/alerting.ts';
import { usePaymentWebhook } from '../helpers/payments.ts';
import { checkoutCompleted, newSessionId } from './payments-fixtures.ts';

/**
 * Found by adversarial review 3 (#26): a top-up refused with an undocumented code alerted
 * critical ("the order will be retried") under the order's subject; a later refusal for good
 * (204: FAILED_PERMANENT, answered 200, so Stripe stops) raised a warning under the same
 * subject, which merged into the open alert and notified nobody, yet `alertedAt` was noted so
 * the sweep never alerted it. A failure the order is retried after now alerts under a subject
 * of its own (`…:retrying`).
 */

describe('refused with an unknown code, then for good', () => {
  const pay = usePaymentWebhook({ table: 'refused-then-failed', customers: ['88'] });

  const alerting = useAlertingSink('refused-then-failed-alerts');

  it('a retry that credits it closes the "will be retried" alert', {
    timeout: 60_000,
  }, async () => {
    const clock = () => new Date();
    const { store, sink } = await alerting.create(clock);
    const id = newSessionId();
    pay.fx.sim.addFault({ kind: 'code', endpoint: 'rechargeTrafficCount', code: 500, times: 1 });
    expect((await pay.handler({ sink })(checkoutCompleted(id))).statusCode).toBe(503);
    const subject = `order:stripe:${id}:retrying`;
    expect((await store.get('topup-failed', subject))?.status).toBe('critical');

    const retry = await pay.handler({ sink })(checkoutCompleted(id));
    expect(JSON.parse(retry.body ?? '{}').result).toBe('credited');
    expect((await store.get('topup-failed', subject))?.status).toBe('ok');
  });

  it('acknowledged while it "will be retried": a person hears it failed for good', {
    timeout: 60_000,
  }, async () => {
    let offset = 0;
    const clock = () => new Date(Date.now() + offset);
    const { store, sink } = await alerting.create(clock);
    const { published } = alerting;
    // Customer 90 is not in the agent's channel: the upstream answers 204 once it answers.
    const id = newSessionId();
    const ev = () => checkoutCompleted(id, { customerId: '90' });

    pay.fx.sim.addFault({ kind: 'code', endpoint: 'rechargeTrafficCount', code: 500, times: 1 });
    const first = await pay.handler({ sink })(ev());
    expect(first.statusCode).toBe(503);
    expect(published()).toBe(1);
    // The agent reads "the order will be retried" and acknowledges.
    await store.acknowledge('topup-failed', `order:stripe:${id}`, { at: clock(), by: 'agent' });

    const retry = await pay.handler({ sink })(ev());
    expect(JSON.parse(retry.body ?? '{}').result).toBe('failed');
    // Noted as alerted: the raise went through, though it notified nobody.
    expect(await pay.ledger.getOrder({ provider: 'stripe', paymentId: id })).toMatchObject({
      state: 'FAILED_PERMANENT',
      alertedAt: expect.any(String),
    });
    for (const h of [1, 5, 24, 72]) {
      offset = h * 3_600_000;
      await sweepStuckDeductions(pay.sweepDeps({ clock, sink }));
      await sink.remindDue();
    }
    expect(published()).toBeGreaterThan(1);
  });
});

import { randomUUID } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { ledgerKeys } from '../../functions/commons/payments/ledger/ledger.ts';
import { claimRefundPart, usePaymentWebhook } from '../helpers/payments.ts';
import {
  apiEvent,
  chargeRefunded,
  checkoutCompleted,
  checkoutSession,
  newSessionId,
  standardHeaders,
  standardPayload,
  stripeDelivery,
  stripeEvent,
} from './payments-fixtures.ts';

describe('payment webhooks: refunds and disputes deduct at most once', () => {
  const pay = usePaymentWebhook({ table: 'payments-deduct', customers: ['88'] });
  const { fx, table, sink } = pay;
  let handler: ReturnType<typeof pay.handler>;

  beforeEach(() => {
    handler = pay.handler();
  });

  /** A credited 10 GB Stripe order paid 1000 cents; returns its ids. */
  async function creditedSession() {
    const id = newSessionId();
    const res = await handler(checkoutCompleted(id));
    expect(JSON.parse(res.body ?? '').result).toBe('credited');
    return { id, paymentIntent: `pi_${id}`, charge: `ch_${id.slice(8)}` };
  }

  const refunded = chargeRefunded;

  const deducted = () => fx.sim.deductions().map((d) => d.trafficGb);

  async function part(paymentId: string, partId: string) {
    const out = await table.doc.send(
      new GetCommand({
        TableName: table.tableName,
        Key: ledgerKeys.part({ provider: 'stripe', paymentId }, partId),
      }),
    );
    return out.Item;
  }

  it('deducts two partial refunds by their deltas and ignores a redelivery', async () => {
    // Prepare
    const s = await creditedSession();

    // Act: the first event's redelivery comes late (Stripe resends the same event).
    const t = Math.floor(Date.now() / 1000);
    const firstEvent = refunded(s.charge, s.paymentIntent, 300, t);
    const first = await handler(firstEvent);
    const second = await handler(refunded(s.charge, s.paymentIntent, 1000, t + 10));
    const again = await handler(refunded(s.charge, s.paymentIntent, 1000, t + 10));
    const late = await handler(firstEvent);

    // Assess
    expect([first, second].map((r) => JSON.parse(r.body ?? '').result)).toEqual([
      'deducted',
      'deducted',
    ]);
    // The late one's total was superseded by a total created after it.
    expect([again, late].map((r) => JSON.parse(r.body ?? '').result)).toEqual([
      'already-deducted',
      'stale-event',
    ]);
    expect(deducted()).toEqual(['3', '7']);
    expect(await part(s.id, `${s.charge}:1000`)).toMatchObject({
      state: 'DEDUCTED',
      gb: '7',
      minor: 700,
    });
  });

  it('rounds each deduction down to 0.01 GB while the parts add up to the credited GB', async () => {
    // Prepare
    const s = await creditedSession();

    // Act
    for (const total of [333, 666, 1000]) await handler(refunded(s.charge, s.paymentIntent, total));

    // Assess
    expect(deducted()).toEqual(['3.33', '3.33', '3.34']);
  });

  it('marks a deduction whose answer was lost UNKNOWN, alerts, and never calls again', async () => {
    // Prepare
    const s = await creditedSession();
    fx.sim.addFault({ kind: 'drop-after-apply', endpoint: 'deductionFlow', times: 1 });

    // Act
    const lost = await handler(refunded(s.charge, s.paymentIntent, 500));
    const redelivered = await handler(refunded(s.charge, s.paymentIntent, 500));

    // Assess
    expect(lost.statusCode).toBe(200);
    expect(JSON.parse(lost.body ?? '').result).toBe('deduction-unknown');
    expect(redelivered.statusCode).toBe(200);
    expect(fx.sim.callCount('deductionFlow')).toBe(1);
    expect(await part(s.id, `${s.charge}:500`)).toMatchObject({
      state: 'UNKNOWN',
      gsi1pk: 'ORDERS#UNKNOWN',
    });
    // One problem: the redelivery may alert it again (whoever marked it may have died first).
    const alert = expect.objectContaining({
      kind: 'deduction-unknown',
      severity: 'critical',
      details: expect.objectContaining({ customerId: '88', gb: '5', state: 'UNKNOWN' }),
    });
    expect(sink.events.length).toBeGreaterThan(0);
    expect(sink.events).toEqual(sink.events.map(() => alert));
    expect(new Set(sink.events.map((e) => e.subject)).size).toBe(1);
  });

  it('marks a part a crashed delivery left DEDUCTING UNKNOWN on redelivery, asks a redelivery within the lease to wait, and never calls', async () => {
    // Prepare: two deliveries claimed a refund part and died before settling it, one long
    // ago (beyond the lease) and one just now (it may still be calling).
    const { ledger } = pay;
    const claimPart = async (s: { id: string; charge: string }, at: Date) => {
      const claim = await claimRefundPart(
        ledger,
        { provider: 'stripe', paymentId: s.id },
        s.charge,
        at,
      );
      expect(claim.outcome).toBe('claimed');
    };
    const crashed = await creditedSession();
    const live = await creditedSession();
    await claimPart(crashed, new Date(Date.now() - 10 * 60_000));
    await claimPart(live, new Date());

    // Act
    const first = await handler(refunded(crashed.charge, crashed.paymentIntent, 500));
    const again = await handler(refunded(crashed.charge, crashed.paymentIntent, 500));
    const during = await handler(refunded(live.charge, live.paymentIntent, 500));

    // Assess
    expect([first, again].map((r) => JSON.parse(r.body ?? '').result)).toEqual([
      'deduction-unknown',
      'deduction-unknown',
    ]);
    // Within the lease the part may still be in a delivery's hands: come back later.
    expect(during.statusCode).toBe(409);
    expect(Number(during.headers?.['retry-after'])).toBeGreaterThan(0);
    expect(fx.sim.callCount('deductionFlow')).toBe(0);
    expect(await part(crashed.id, `${crashed.charge}:500`)).toMatchObject({
      state: 'UNKNOWN',
      gsi1pk: 'ORDERS#UNKNOWN',
    });
    expect(await part(live.id, `${live.charge}:500`)).toMatchObject({ state: 'DEDUCTING' });
    const alert = expect.objectContaining({
      kind: 'deduction-unknown',
      severity: 'critical',
      details: expect.objectContaining({ customerId: '88', gb: '5', state: 'UNKNOWN' }),
    });
    expect(sink.events).toEqual([alert, alert]);
  });

  it('deducts the disputed part once per dispute', async () => {
    // Prepare
    const s = await creditedSession();
    const dispute = stripeEvent('charge.dispute.funds_withdrawn', {
      id: `dp_${s.id.slice(8)}`,
      object: 'dispute',
      amount: 1000,
      currency: 'usd',
      charge: s.charge,
      payment_intent: s.paymentIntent,
    });

    // Act
    const first = await handler(stripeDelivery('stripe', dispute));
    const again = await handler(stripeDelivery('stripe', dispute));

    // Assess
    expect(JSON.parse(first.body ?? '').result).toBe('deducted');
    expect(JSON.parse(again.body ?? '').result).toBe('already-deducted');
    expect(deducted()).toEqual(['10']);
  });

  it('deducts nothing for an order that was never credited', async () => {
    // Prepare: 6 × 100 GB is over the per-order maximum, so the order is held.
    const id = `cs_test_${randomUUID().replace(/-/g, '')}`;
    await handler(
      stripeDelivery(
        'stripe',
        stripeEvent(
          'checkout.session.completed',
          checkoutSession(id, { pkg: 'gb100', quantity: '6', amount: 48_000 }),
        ),
      ),
    );

    // Act
    const res = await handler(refunded(`ch_${id}`, `pi_${id}`, 48_000));

    // Assess
    expect(JSON.parse(res.body ?? '').result).toBe('nothing-to-deduct');
    expect(fx.sim.callCount('deductionFlow')).toBe(0);
    expect(await part(id, `ch_${id}:48000`)).toMatchObject({
      state: 'SKIPPED',
      reason: 'not-credited',
    });
  });

  it('deducts a Standard Webhooks payment.refunded by its cumulative total', async () => {
    // Prepare
    const paymentId = `ord_${randomUUID()}`;
    const paid = standardPayload('payment.succeeded', {
      paymentId,
      customerId: '88',
      package: 'gb100',
      amount: 8000,
      currency: 'usd',
    });
    await handler(apiEvent('standard', paid, standardHeaders(paid)));
    const refund = (amountRefunded: number) => {
      const body = standardPayload('payment.refunded', {
        paymentId,
        amountRefunded,
        currency: 'usd',
      });
      return apiEvent('standard', body, standardHeaders(body));
    };

    // Act
    await handler(refund(2000));
    await handler(refund(2000));
    await handler(refund(4000));

    // Assess
    expect(deducted()).toEqual(['25', '25']);
  });
});

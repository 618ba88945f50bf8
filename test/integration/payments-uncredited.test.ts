import { describe, expect, it } from 'vitest';
import { alertUncreditedOrders } from '../../functions/commons/payments/uncredited.ts';
import { usePaymentWebhook } from '../helpers/payments.ts';
import { checkoutCompleted, newSessionId } from './payments-fixtures.ts';

/**
 * A paid order whose every upstream call failed stays RECEIVED; once the provider stops
 * retrying nothing else touches it. Found by review (#26): nobody was told.
 */
describe('paid orders left uncredited', () => {
  const pay = usePaymentWebhook({ table: 'uncredited', customers: ['88'] });
  let now = Date.now();
  const handler = () => pay.handler({ clock: () => new Date(now) });
  const check = () =>
    alertUncreditedOrders({ ledger: pay.ledger, sink: pay.sink, clock: () => new Date(now) });
  const failingOnce = () =>
    pay.fx.sim.addFault({
      kind: 'status',
      status: 502,
      endpoint: 'rechargeTrafficCount',
      times: 1,
    });

  it('alerts a person once a paid order stayed uncredited for an hour, naming how to replay it', async () => {
    // Prepare: one order every upstream call of which failed, one credited.
    now = Date.now();
    const stuck = newSessionId();
    const credited = newSessionId();
    failingOnce();
    const failed = await handler()(checkoutCompleted(stuck));
    await handler()(checkoutCompleted(credited));

    // Act
    const soon = await check();
    const alertsSoon = pay.sink.events.length;
    now += 61 * 60_000;
    const later = await check();

    // Assess
    expect(failed.statusCode).toBeGreaterThanOrEqual(500);
    expect(soon).toBe(0);
    expect(alertsSoon).toBe(pay.sink.events.length - 1);
    expect(later).toBeGreaterThanOrEqual(1);
    const alert = pay.sink.events.at(-1);
    expect(alert).toMatchObject({
      kind: 'topup-failed',
      severity: 'critical',
      subject: 'orders-not-credited',
    });
    expect(alert?.details.orders).toContain(`stripe:${stuck} (customer 88, 10 GB)`);
    expect(alert?.details.orders).not.toContain(credited);
  });

  it('says nothing once the stuck order is credited', async () => {
    // Prepare
    now = Date.now();
    const id = newSessionId();
    failingOnce();
    await handler()(checkoutCompleted(id));
    now += 2 * 60_000;
    const healed = await handler()(checkoutCompleted(id));
    now += 61 * 60_000;
    pay.sink.events.length = 0;

    // Act
    await check();

    // Assess
    expect(healed.statusCode).toBe(200);
    expect(pay.sink.events.map((e) => e.details.orders ?? '').join(' ')).not.toContain(id);
  });
});

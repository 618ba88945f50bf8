import { describe, expect, it } from 'vitest';
import type { OpsEvent, OpsEventSink } from '../../functions/commons/ops-events.ts';
import { sweepStuckDeductions } from '../../functions/commons/payments/sweep.ts';
import { usePaymentWebhook } from '../helpers/payments.ts';
import { chargeRefunded, checkoutCompleted, newSessionId } from './payments-fixtures.ts';

/**
 * A paid order recorded HELD, FAILED_PERMANENT or REJECTED gets one alert; redeliveries
 * answer from the state and the uncredited check reads RECEIVED and CREDITING only. Found by
 * review (#26): when that one alert was lost (the sink failed, or the run died before it),
 * nobody was ever told.
 */
describe('paid orders not credited whose alert was lost', () => {
  const pay = usePaymentWebhook({ table: 'orders-not-alerted', customers: ['88'] });
  const { sink } = pay;
  /** A sink whose first alert is lost (raiseAlert swallows the error), then records. */
  const lostOnce = (): OpsEventSink => {
    let lost = false;
    return {
      async raise(event: OpsEvent) {
        if (!lost) {
          lost = true;
          throw new Error('ProvisionedThroughputExceededException');
        }
        await sink.raise(event);
      },
    };
  };
  const sweep = (atMs: number) =>
    sweepStuckDeductions(pay.sweepDeps({ clock: () => new Date(atMs) }));
  const alertsFor = (id: string) => sink.events.filter((e) => e.subject === `order:stripe:${id}`);

  const cases = [
    {
      name: 'FAILED_PERMANENT (204: not our customer)',
      event: (id: string) => checkoutCompleted(id, { customerId: '90' }),
      result: 'failed',
    },
    {
      name: 'HELD over the per-order maximum',
      event: (id: string) => checkoutCompleted(id, { pkg: 'gb100', quantity: '6', amount: 48_000 }),
      result: 'held',
    },
    {
      name: 'REJECTED (unknown package)',
      event: (id: string) => checkoutCompleted(id, { pkg: 'gb999' }),
      result: 'rejected',
    },
  ];

  for (const c of cases) {
    it(`${c.name}: every poll past the lease alerts it until the alert went out, then no more`, async () => {
      // Prepare: the order's one alert lost, a redelivery answered from the state.
      const id = newSessionId();
      const first = await pay.handler({ sink: lostOnce() })(c.event(id));
      const again = await pay.handler()(c.event(id));
      const lost = alertsFor(id).length;

      // Act
      const withinLease = await sweep(Date.now() + 60_000);
      const alertedWithin = alertsFor(id).length;
      const past = await sweep(Date.now() + 3 * 3_600_000);
      const alertedPast = alertsFor(id).length;
      await sweep(Date.now() + 4 * 3_600_000);

      // Assess
      expect(JSON.parse(first.body ?? '{}').result).toBe(c.result);
      expect(JSON.parse(again.body ?? '{}').result).toBe(c.result);
      expect(lost).toBe(0);
      expect(withinLease.ordersRealerted).toBe(0);
      expect(alertedWithin).toBe(0);
      expect(past.ordersRealerted).toBeGreaterThanOrEqual(1);
      expect(alertedPast).toBe(1);
      expect(alertsFor(id)).toHaveLength(1);
    });
  }

  it('an order last changed over a week before the poll is left to the orders list (no alert)', async () => {
    // Prepare: an order whose one alert was lost, swept for the first time 8 days later.
    const id = newSessionId();
    await pay.handler({ sink: lostOnce() })(checkoutCompleted(id, { pkg: 'gb999' }));

    // Act
    const late = await sweep(Date.now() + 8 * 86_400_000);

    // Assess
    expect(alertsFor(id)).toHaveLength(0);
    expect(late.ordersRealerted).toBe(0);
  });

  it('an order whose alert went out is not alerted again', async () => {
    // Prepare
    const id = newSessionId();
    await pay.handler()(checkoutCompleted(id, { customerId: '90' }));

    // Act
    await sweep(Date.now() + 3 * 3_600_000);

    // Assess
    expect(alertsFor(id)).toHaveLength(1);
  });

  it('an order refunded in full before it was known needs nobody: never alerted', async () => {
    // Prepare
    const id = newSessionId();
    await pay.handler()(chargeRefunded(`ch_${id}`, `pi_${id}`, 1000));
    const paid = await pay.handler()(checkoutCompleted(id));

    // Act
    await sweep(Date.now() + 3 * 3_600_000);

    // Assess
    expect(JSON.parse(paid.body ?? '{}').result).toBe('refunded');
    expect(alertsFor(id)).toHaveLength(0);
  });

  it('a sweep whose alert is lost again alerts on the next poll', async () => {
    // Prepare
    const id = newSessionId();
    await pay.handler({ sink: lostOnce() })(checkoutCompleted(id, { customerId: '90' }));
    const at = Date.now() + 3 * 3_600_000;

    // Act
    const down: OpsEventSink = {
      raise: () => Promise.reject(new Error('ProvisionedThroughputExceededException')),
    };
    await sweepStuckDeductions(pay.sweepDeps({ clock: () => new Date(at), sink: down }));
    const afterLost = alertsFor(id).length;
    await sweep(at + 60_000);

    // Assess
    expect(afterLost).toBe(0);
    expect(alertsFor(id)).toHaveLength(1);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { alertUncreditedOrders } from '../../functions/commons/payments/uncredited.ts';
import { replayOrder } from '../../local/cli/commands/replay.ts';
import { useAlertingSink } from '../helpers/alerting.ts';
import { usePaymentWebhook } from '../helpers/payments.ts';
import { checkoutCompleted, newSessionId } from './payments-fixtures.ts';

/**
 * Found by adversarial review 3 (#26): the `orders-not-credited` alert had one fixed subject
 * and nothing closed it, while the alerting sink notifies a subject once. After the first stuck
 * order ever, a later one was no news, and none at all once a person acknowledged the alert;
 * Stripe stops retrying after 3 days. The check now closes the alert when no order is left.
 */

const HOUR = 3_600_000;

describe('orders-not-credited: a second stuck order after the first was handled', () => {
  const pay = usePaymentWebhook({ table: 'uncredited-reopens', customers: ['88'] });
  /** Orders left stuck by a test: credited after it, so the next test starts with none. */
  const left: string[] = [];
  afterEach(async () => {
    for (const id of left.splice(0)) {
      await replayOrder(pay.replayDeps(), { provider: 'stripe', paymentId: id });
    }
  });

  const alerting = useAlertingSink('uncredited-reopens-alerts');

  async function setUp() {
    let offset = 0;
    const clock = () => new Date(Date.now() + offset);
    const { store, sink } = await alerting.create(clock);
    /** A totals poll's uncredited check, `hours` after now. */
    const poll = (hours: number) => {
      offset = hours * HOUR;
      return alertUncreditedOrders({ ledger: pay.ledger, sink, clock });
    };
    /** A delivery `hours` from now whose credit fails for now (upstream 502). */
    const failedDelivery = async (id: string, hours = 0) => {
      pay.fx.sim.addFault({
        kind: 'status',
        endpoint: 'rechargeTrafficCount',
        status: 502,
        times: 1,
      });
      const at = () => new Date(Date.now() + hours * HOUR);
      const res = await pay.handler({ clock: at })(checkoutCompleted(id));
      expect(res.statusCode).toBe(503);
    };
    /** A paid order whose credit failed and that nobody redelivers. */
    const stuckOrder = async () => {
      const id = newSessionId();
      await failedDelivery(id);
      left.push(id);
      return id;
    };
    return {
      store,
      sink,
      poll,
      failedDelivery,
      stuckOrder,
      published: alerting.published,
    };
  }

  async function firstHandled(f: Awaited<ReturnType<typeof setUp>>) {
    const a = await f.stuckOrder();
    expect(await f.poll(2)).toBe(1);
    expect(f.published()).toBe(1);
    // The agent replays it, as the alert says.
    const replayed = await replayOrder(pay.replayDeps(), { provider: 'stripe', paymentId: a });
    expect(replayed.outcome).toBe('credited');
    left.splice(left.indexOf(a), 1);
    expect(await f.poll(3)).toBe(0);
  }

  it('nothing stuck any more: the alert is closed', { timeout: 60_000 }, async () => {
    const f = await setUp();
    await firstHandled(f);
    const open = await f.store.get('topup-failed', 'orders-not-credited');
    expect(open?.status ?? 'ok').toBe('ok');
  });

  it('a new stuck order later: a person is notified at its poll (not only by the reminder of the old alert)', {
    timeout: 60_000,
  }, async () => {
    const f = await setUp();
    await firstHandled(f);
    const before = f.published();
    const b = await f.stuckOrder();
    expect(await f.poll(2)).toBe(1);
    expect(b).toBeTruthy();
    expect(f.published()).toBeGreaterThan(before);
  });

  it('acknowledged after the first was replayed: a person hears of a new stuck order', {
    timeout: 60_000,
  }, async () => {
    const f = await setUp();
    await firstHandled(f);
    await f.store.acknowledge('topup-failed', 'orders-not-credited', {
      at: new Date(Date.now() + 3 * HOUR),
      by: 'agent',
    });
    const before = f.published();
    await f.stuckOrder();
    // Polls for the 3 days Stripe retries (none comes: it gave up), with reminders due.
    for (const h of [2, 6, 12, 24, 48, 72]) {
      expect(await f.poll(h)).toBe(1);
      await f.sink.remindDue();
    }
    expect(f.published()).toBeGreaterThan(before);
  });

  it('stays open while an order tried again within the hour is still uncredited (review 4)', {
    timeout: 60_000,
  }, async () => {
    const f = await setUp();
    const a = await f.stuckOrder();
    expect(await f.poll(2)).toBe(1);
    // Stripe redelivers at +2.5 h; the upstream still fails: not stuck for an hour, not credited.
    await f.failedDelivery(a, 2.5);
    expect(await f.poll(3)).toBe(0);
    expect((await f.store.get('topup-failed', 'orders-not-credited'))?.status).toBe('critical');
  });
});

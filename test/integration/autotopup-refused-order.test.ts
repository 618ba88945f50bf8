import { describe, expect, it } from 'vitest';
import { useSimulator } from '../helpers/simulator.ts';
import { useStripeStandIn } from '../helpers/stripe.ts';
import { bench } from './autotopup-lag-bench.ts';
import { checkoutSession, STRIPE_SECRET, stripeEvent } from './payments-fixtures.ts';

/**
 * Asked by adversarial review 3 (#26): a hand-bought order the upstream refuses with an
 * undocumented code stays RECEIVED (retryable) and counts as landing, so it holds the
 * customer's auto top-up while the provider retries, and 48 h after its last attempt. Kept so
 * by design: the refusal (an empty agent pool, say) would refuse the auto top-up's credit too,
 * charging the card for nothing; a person is alerted at the first refusal (told that the auto
 * top-up waits) and again by `orders-not-credited`, and `flowpilot replay` serves the customer.
 */
const fx = useSimulator();
const KEY = 'sk_test_refused_order';
// Webhooks are delivered by the test itself (`t.deliver`), as the bench does.
const stripe = useStripeStandIn({ apiKey: KEY, webhook: { secret: STRIPE_SECRET } });

const HOUR = 3_600_000;

describe('a hand-bought order the upstream keeps refusing', () => {
  it('control: without it, the low customer is charged at once', { timeout: 60_000 }, async () => {
    const t = await bench(fx, stripe.standIn, KEY, { cooldownHours: 0, id: '89' });
    await t.run(t.balance(5, []));
    expect(t.intents()).toHaveLength(1);
  });

  it('holds the auto top-up while the order is retried, and charges 48 h after its last attempt', {
    timeout: 60_000,
  }, async () => {
    const t = await bench(fx, stripe.standIn, KEY, { cooldownHours: 0 });
    const handBought = stripeEvent(
      'checkout.session.completed',
      checkoutSession('cs_refused', { customerId: t.id, pkg: 'gb100', amount: 8000 }),
    );
    /** Stripe's delivery, refused by the upstream with a code it does not document. */
    const refused = async () => {
      fx.sim.addFault({ kind: 'code', endpoint: 'rechargeTrafficCount', code: 500, times: 1 });
      const up = fx.client({ retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
      t.expectStatus(await t.deliver(handBought, up), 503);
    };
    await refused();
    expect(await t.order('cs_refused')).toMatchObject({ state: 'RECEIVED' });
    // Stripe's retries (all refused) and the balance runs between them: 5 GB, nothing listed.
    for (const gap of [2, 3, 5, 10, 4]) {
      t.later(gap * HOUR);
      await refused();
      t.later(HOUR);
      await t.run(t.balance(5, []));
    }
    const within = t.intents().length;
    // Only once its last claim is 48 h old does it stop counting: then the charge comes.
    t.later(48 * HOUR);
    await t.run(t.balance(5, []));
    expect(within).toBe(0);
    expect(t.intents()).toHaveLength(1);
  });
});

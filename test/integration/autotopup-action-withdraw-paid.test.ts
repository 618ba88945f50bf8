import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type StripeStandIn, startStripeStandIn } from '../../local/stripe/server.ts';
import { useAlertingSink } from '../helpers/alerting.ts';
import { autoTopupRig, optInWithCard } from '../helpers/autotopup.ts';
import { customerBalance } from '../helpers/balances.ts';

/**
 * Found by adversarial review 14 (#26): a waiting 3-D Secure episode is withdrawn (here: a
 * card saved since) while the customer has just paid its link; the cancel answers
 * `payment_intent_unexpected_state`, the status is `succeeded`, and the episode is closed as if
 * nothing was charged. The payment's webhook is late (manual delivery), so the balance does not
 * show its 10 GB yet: the next low balance starts a second episode and charges the new card.
 */
const KEY = 'sk_test_adv15_withdraw';
const alerting = useAlertingSink('withdraw-paid-alerts');
let standIn: StripeStandIn;
beforeAll(async () => {
  standIn = await startStripeStandIn({ apiKey: KEY, webhookMode: 'manual' });
});
afterAll(async () => {
  await standIn.close();
});
afterEach(() => {
  standIn.reset();
});

describe('a 3-D Secure episode withdrawn just after the customer paid its link', () => {
  // Sequence: 3DS wait (card A) -> 7 h later the customer pays the link and saves card B ->
  // withdraw: cancel finds it succeeded, episode closed -> balance drops, still low, webhook late
  // -> episode 2 charges card B: two succeeded charges for one low balance.
  it('charges the customer once', { timeout: 60_000 }, async () => {
    let now = new Date('2026-12-01T12:00:00Z');
    const rig = await autoTopupRig('adv15-withdraw-paid', () => now, {
      url: standIn.url,
      key: KEY,
    });
    const { sink } = await alerting.create(() => now);
    let gb = '12';
    const engine = rig.engine({
      sink,
      balances: {
        current: async (ids) =>
          new Map(ids.map((id) => [id, customerBalance(id, gb, now, { recentCredits: [] })])),
      },
    });
    await optInWithCard(rig.store, rig.config, '981', now, {
      paymentMethod: 'pm_card_authenticationRequired',
    });
    await rig.pool('1000');
    await engine.onBalances([rig.change('981', '25', '12')]);
    expect((await rig.store.get('981'))?.episode?.state).toBe('ACTION_REQUIRED');
    const first = standIn.paymentIntents()[0];
    if (!first) throw new Error('no PaymentIntent');

    // 7 hours later (past the 6 h cooldown) the customer pays the link, then saves a card that
    // needs no authentication. The payment's webhook is not delivered yet.
    now = new Date(now.getTime() + 7 * 3_600_000);
    standIn.authenticate(first.id);
    await optInWithCard(rig.store, rig.config, '981', now, { paymentMethod: 'pm_card_visa' });
    await rig.pool('1000');
    await engine.onBalances([]);

    now = new Date(now.getTime() + 600_000);
    gb = '11';
    await rig.pool('1000');
    await engine.onBalances([rig.change('981', '12', '11')]);
    await engine.onBalances([]);

    const statuses = standIn.paymentIntents().map((p) => p.status);
    expect(statuses.filter((s) => s === 'succeeded')).toHaveLength(1);
  });
});

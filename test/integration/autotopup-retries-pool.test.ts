import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BalanceChange } from '../../functions/commons/customers/types.ts';
import { type StripeStandIn, startStripeStandIn } from '../../local/stripe/server.ts';
import { useAlertingSink } from '../helpers/alerting.ts';
import { autoTopupRig, optInWithCard } from '../helpers/autotopup.ts';

/**
 * Review 8 (#26, F3): a decline retry passed the pool check when the pool covers the pending
 * total, its own GB included (`own`). Two retries due at once on a pool that covers one:
 * each finds the pending total (both) over the pool, so neither is charged, run after run,
 * until a person refills the pool; two new episodes on the same pool serve one of them.
 * gb100 below 20 GB.
 */
const KEY = 'sk_test_adv_retries';
const alerting = useAlertingSink('adv-retries-alerts');
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

describe('two decline retries on a pool that covers one', () => {
  // 941 and 942 are declined (attempt 1); both save a good card; the pool is down to 150 GB
  // (one package); the retries are due: neither is charged.
  it('charges one of them', { timeout: 60_000 }, async () => {
    let now = new Date('2026-12-01T12:00:00Z');
    const rig = await autoTopupRig('adv-retries-pool', () => now, {
      url: standIn.url,
      key: KEY,
    });
    const { sink } = await alerting.create(() => now);
    const engine = rig.engine({ sink });
    const later = (hours: number) => {
      now = new Date(now.getTime() + hours * 3_600_000);
    };
    const change = (id: string, before: string, after: string): BalanceChange =>
      rig.change(id, before, after);
    for (const id of ['941', '942']) {
      await optInWithCard(rig.store, rig.config, id, now, {
        paymentMethod: 'pm_card_chargeDeclined',
      });
    }
    await rig.pool('1000');
    await engine.onBalances([change('941', '25', '12'), change('942', '25', '12')]);
    expect(standIn.paymentIntents()).toHaveLength(2);
    later(0.5);
    for (const id of ['941', '942']) await optInWithCard(rig.store, rig.config, id, now);
    await rig.pool('150');
    for (let i = 0; i < 3; i++) {
      later(1);
      await engine.onBalances([change('941', '12', '11'), change('942', '12', '11')]);
    }
    const paid = standIn.paymentIntents().filter((pi) => pi.status === 'succeeded');
    expect(paid).toHaveLength(1);
  });
});

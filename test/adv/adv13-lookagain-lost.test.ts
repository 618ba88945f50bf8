import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AutoTopupDeps } from '../../functions/commons/autotopup/engine.ts';
import { setAutoTopup } from '../../functions/commons/autotopup/settings.ts';
import { type StripeStandIn, startStripeStandIn } from '../../local/stripe/server.ts';
import { useAlertingSink } from '../helpers/alerting.ts';
import { autoTopupRig, optInWithCard } from '../helpers/autotopup.ts';
import { customerBalance } from '../helpers/balances.ts';

/**
 * Review 13 (#26): a customer at 0 GB (cannot use traffic: the balance never changes again)
 * turns auto top-up on (lookAgain), then at once saves a second setting on the page (quantity
 * 2, lookAgain again). The run that read the first version loses its claim to the page's write
 * (no charge), then #looked re-reads, finds the page's lookAgain and clears it: out of the
 * BLOCKED index, nothing left to look at the customer, who stays at 0 GB with auto top-up on.
 */
const KEY = 'sk_test_adv13_look';
const alerting = useAlertingSink('adv13-look-alerts');
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

describe('a settings write racing the run that looks at the customer', () => {
  // Sequence: turn on at 0 GB; run reads v1; page saves v2 before the claim; claim lost; lookAgain of v2 cleared; never charged.
  it.fails('still gets the customer charged once', { timeout: 60_000 }, async () => {
    let now = new Date('2026-12-01T12:00:00Z');
    const rig = await autoTopupRig('adv13-look', () => now, { url: standIn.url, key: KEY });
    const { sink } = await alerting.create(() => now);
    await optInWithCard(rig.store, rig.config, '961', now);
    expect((await rig.store.get('961'))?.lookAgain).toBe(true);
    let raced = false;
    const store: AutoTopupDeps['store'] = {
      get: (id) => rig.store.get(id),
      getMany: (ids) => rig.store.getMany(ids),
      openEpisodes: () => rig.store.openEpisodes(),
      blockedCustomers: () => rig.store.blockedCustomers(),
      monthGb: (id, month) => rig.store.monthGb(id, month),
      async commit(next, expected, lines) {
        if (next.episode && !raced) {
          raced = true;
          // The customer's second save on the page lands just before the engine's claim.
          await setAutoTopup(
            rig.store,
            {
              customerId: '961',
              packageId: 'gb100',
              quantity: 2,
              belowGb: '20',
              by: 'portal',
              now,
            },
            rig.config,
          );
        }
        return rig.store.commit(next, expected, lines);
      },
    };
    const engine = rig.engine({
      sink,
      store,
      balances: {
        current: async (ids) =>
          new Map(
            ids.map((id) => [
              id,
              customerBalance(id, '0', '2026-12-01T11:00:00Z', { recentCredits: [] }),
            ]),
          ),
      },
    });
    // A day of runs with no balance change (the customer cannot use traffic).
    for (let i = 0; i < 6; i++) {
      await rig.pool('1000');
      await engine.onBalances([]);
      now = new Date(now.getTime() + 4 * 3_600_000);
    }
    expect(raced).toBe(true);
    const rec = await rig.store.get('961');
    expect(rec?.enabled).toBe(true);
    expect(standIn.paymentIntents()).toHaveLength(1);
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AutoTopupDeps } from '../../functions/commons/autotopup/engine.ts';
import { setAutoTopup, turnOffAutoTopup } from '../../functions/commons/autotopup/settings.ts';
import type { BalanceChange, CustomerBalance } from '../../functions/commons/customers/types.ts';
import { type StripeStandIn, startStripeStandIn } from '../../local/stripe/server.ts';
import { useAlertingSink } from '../helpers/alerting.ts';
import { autoTopupRig, optInWithCard } from '../helpers/autotopup.ts';
import { customerBalance } from '../helpers/balances.ts';

/**
 * Review 8 (#26, F1): the due scan of refused customers (F5 of review 7) finds a customer only
 * while the record says `blocked`. A settings write (portal or CLI) clears `blocked`, and a
 * customer turned on while already low was never blocked: either way a customer whose balance
 * stands still (at zero, nothing to use) is never looked at again. gb100 below 20 GB.
 */
const KEY = 'sk_test_adv_still';
const alerting = useAlertingSink('adv-still-alerts');
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

async function setUp(name: string) {
  let now = new Date('2026-12-01T12:00:00Z');
  const clock = () => now;
  const rig = await autoTopupRig(name, clock, { url: standIn.url, key: KEY });
  const { sink } = await alerting.create(clock);
  // The balances as the balance poll last stored them.
  const stored = new Map<string, CustomerBalance>();
  const change = (id: string, before: string, after: string): BalanceChange => {
    const c = rig.change(id, before, after);
    stored.set(id, c.after);
    return c;
  };
  const engine = rig.engine({
    sink,
    balances: {
      async current(ids) {
        const out = new Map<string, CustomerBalance>();
        for (const id of ids) {
          const b = stored.get(id);
          if (b) out.set(id, b);
        }
        return out;
      },
    },
  });
  await rig.optIn('911');
  const portal = (belowGb: string) =>
    setAutoTopup(
      rig.store,
      { customerId: '911', packageId: 'gb100', quantity: 1, belowGb, by: 'portal', now },
      rig.config,
    );
  return {
    ...rig,
    change,
    engine,
    portal,
    now: () => now,
    later: (hours: number) => {
      now = new Date(now.getTime() + hours * 3_600_000);
    },
  };
}

describe('a customer at zero whose balance stands still', () => {
  // Held back by the pool at 0 GB; the customer changes the threshold on the portal (blocked
  // cleared: out of the BLOCKED partition); the pool is refilled; runs with no change for 911
  // never look at it again: 911 stays at 0 GB.
  it('is charged after a settings change once the pool covers it', {
    timeout: 60_000,
  }, async () => {
    const f = await setUp('adv-still-settings');
    await f.pool('50');
    await f.engine.onBalances([f.change('911', '3', '0')]);
    expect((await f.store.get('911'))?.blocked).toBe('pool');
    await f.portal('15');
    f.later(1);
    await f.pool('1000');
    for (let i = 0; i < 3; i++) {
      f.later(1);
      await f.engine.onBalances([]);
    }
    expect(standIn.paymentIntents().map((pi) => pi.metadata?.customerId)).toEqual(['911']);
  });

  // Turned off on the portal, the customer runs out; turned on again at 0 GB (card on file):
  // never refused, so in neither partition; no run looks at 911 until the balance moves.
  it('is charged once auto top-up is turned on again', { timeout: 60_000 }, async () => {
    const f = await setUp('adv-still-turned-on');
    await f.pool('1000');
    await turnOffAutoTopup(f.store, { customerId: '911', by: 'portal', now: f.now() });
    await f.engine.onBalances([f.change('911', '3', '0')]);
    f.later(1);
    await f.portal('20');
    for (let i = 0; i < 3; i++) {
      f.later(1);
      await f.pool('1000');
      await f.engine.onBalances([]);
    }
    expect(standIn.paymentIntents().map((pi) => pi.metadata?.customerId)).toEqual(['911']);
  });
});

/**
 * Review 13 (#26, F1): a customer at 0 GB (cannot use traffic: the balance never changes again)
 * turns auto top-up on (lookAgain), then at once saves a second setting on the page (quantity
 * 2, lookAgain again). The run that read the first version loses its claim to the page's write
 * (no charge), then #looked re-reads, finds the page's lookAgain and clears it: out of the
 * BLOCKED index, nothing left to look at the customer, who stays at 0 GB with auto top-up on.
 */

describe('a settings write racing the run that looks at the customer', () => {
  // Sequence: turn on at 0 GB; run reads v1; page saves v2 before the claim; claim lost; lookAgain of v2 cleared; never charged.
  it('still gets the customer charged once', { timeout: 60_000 }, async () => {
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

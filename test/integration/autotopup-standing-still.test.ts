import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setAutoTopup, turnOffAutoTopup } from '../../functions/commons/autotopup/settings.ts';
import type { BalanceChange, CustomerBalance } from '../../functions/commons/customers/types.ts';
import { type StripeStandIn, startStripeStandIn } from '../../local/stripe/server.ts';
import { useAlertingSink } from '../helpers/alerting.ts';
import { autoTopupRig } from '../helpers/autotopup.ts';

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

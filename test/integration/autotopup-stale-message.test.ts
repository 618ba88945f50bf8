import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BalanceChange, CustomerBalance } from '../../functions/commons/customers/types.ts';
import { type StripeStandIn, startStripeStandIn } from '../../local/stripe/server.ts';
import { useAlertingSink } from '../helpers/alerting.ts';
import { autoTopupRig } from '../helpers/autotopup.ts';

/**
 * Review 8 (#26, F2): customer-actions takes the balance changes as asynchronous SNS deliveries,
 * reserved concurrency 1, retried twice, kept up to 6 h (maxEventAge): a message whose first
 * invocation was throttled or killed (timeout) is run again later, possibly after the next
 * poll's message. The engine decides on the newest balance known: the stored one when newer than the message's.
 * gb100 below 20 GB.
 */
const KEY = 'sk_test_adv_stale';
const alerting = useAlertingSink('adv-stale-alerts');
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

describe('a balance-changes message run after a newer one', () => {
  // M1 (911 at 12 GB) is throttled / its invocation killed before auto top-up ran; the agent
  // tops 911 up by 100 GB in the upstream console (no ledger order); M2 (911 at 112 GB) runs;
  // Lambda then runs M1 again: 911's card is charged 100 GB while its balance is 112 GB.
  it('does not charge on the older message', { timeout: 60_000 }, async () => {
    let now = new Date('2026-12-01T12:00:00Z');
    const rig = await autoTopupRig('adv-stale-message', () => now, { url: standIn.url, key: KEY });
    const { sink } = await alerting.create(() => now);
    const stored = new Map<string, CustomerBalance>();
    const change = (before: string, after: string): BalanceChange => {
      const c = rig.change('911', before, after);
      stored.set('911', c.after);
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
    await rig.pool('1000');
    const m1 = [change('25', '12')];
    now = new Date(now.getTime() + 20 * 60_000);
    const m2 = [change('12', '112')];
    await engine.onBalances(m2);
    now = new Date(now.getTime() + 5 * 60_000);
    await engine.onBalances(m1);
    expect(standIn.paymentIntents()).toHaveLength(0);
  });
});

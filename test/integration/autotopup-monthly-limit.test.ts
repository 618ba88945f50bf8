import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CustomerBalance } from '../../functions/commons/customers/types.ts';
import { orderKeyText } from '../../functions/commons/payments/ledger/ledger-read.ts';
import { gbToMb } from '../../functions/commons/units.ts';
import { type StripeStandIn, startStripeStandIn } from '../../local/stripe/server.ts';
import { autoTopupRig, optInWithCard } from '../helpers/autotopup.ts';
import { customerBalance } from '../helpers/balances.ts';
import { RecordingSink } from './payments-fixtures.ts';

/**
 * The monthly limit of auto top-ups (`maxPerMonth`) counts a charge in the month (the cap's
 * zone, Asia/Shanghai) it is made in. gb100 is 100 GB; the threshold is 20 GB.
 */
const KEY = 'sk_test_monthly_limit';
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

describe('the monthly limit of auto top-ups', () => {
  // Review 7 (F4): at most 1 a month; the episode starts 31 Dec 23:30 and is declined; the
  // customer saves a new card; the retry charges on 1 Jan 00:30 and was counted in December,
  // so after the cooldown a new episode charged again in January.
  it('a retry that charges in the next month counts in that month; the refused customer is charged when the next begins', {
    timeout: 60_000,
  }, async () => {
    let now = new Date('2026-12-31T15:30:00Z');
    const later = (hours: number) => {
      now = new Date(now.getTime() + hours * 3_600_000);
    };
    const rig = await autoTopupRig('monthly-limit-retry', () => now, {
      url: standIn.url,
      key: KEY,
    });
    // The balance as the balance poll last stored it (read for a customer whose balance did
    // not change in a run).
    let stored: CustomerBalance | undefined;
    const engine = rig.engine({
      sink: new RecordingSink(),
      balances: { current: async () => new Map(stored ? [['941', stored]] : []) },
    });
    const optIn = (paymentMethod: string) =>
      optInWithCard(rig.store, rig.config, '941', now, { paymentMethod, maxPerMonth: 1 });
    const succeeded = () => standIn.paymentIntents().filter((pi) => pi.status === 'succeeded');
    await optIn('pm_card_chargeDeclined');
    await rig.pool('1000');
    await engine.onBalances([rig.change('941', '25', '12')]);
    expect(succeeded()).toHaveLength(0);
    await optIn('pm_card_visa');
    later(1);
    await engine.onBalances([rig.change('941', '12', '11')]);
    const [first] = succeeded();
    expect(first).toBeDefined();
    expect(await rig.store.get('941')).toMatchObject({ month: '2027-01', chargesInMonth: 1 });
    // The webhook credits it and the balance shows it: the episode ends.
    const key = { provider: 'stripe', paymentId: first?.id ?? '' };
    await rig.ledger.createOrder(
      {
        ...key,
        orderId: `o${key.paymentId}`,
        state: 'CREDITING',
        customerId: '941',
        packageId: 'gb100',
        quantity: 1,
        gb: '100',
        amountMinor: 8000,
        currency: 'usd',
      },
      { now, lease: { owner: 'webhook', until: now.getTime() + 60_000 } },
    );
    await rig.ledger.markCredited(key, { now, code: 200, message: '充值成功' });
    const record = { at: now.toISOString(), mb: gbToMb('100').toFixed() };
    const shown = rig.change('941', '11', '111');
    await engine.onBalances([{ ...shown, credits: [{ ...record, orderId: orderKeyText(key) }] }]);
    expect(await rig.store.openEpisodes()).toHaveLength(0);
    // After the cooldown the customer used 99 GB: January's one top-up is made.
    later(7);
    await rig.pool('1000');
    const shows = { recentCredits: [record], lastCreditAt: record.at, lastCreditMb: record.mb };
    stored = customerBalance('941', '12', now, shows);
    await engine.onBalances([
      { before: customerBalance('941', '111', now, shows), after: stored, credits: [] },
    ]);
    expect(succeeded()).toHaveLength(1);
    expect((await rig.store.get('941'))?.blocked).toBe('monthly-limit');
    // Review 7 (F5): the balance stands still (nothing used); February's first run charges.
    later(24 * 31);
    await rig.pool('1000');
    await engine.onBalances([]);
    expect(succeeded()).toHaveLength(2);
    expect(await rig.store.get('941')).toMatchObject({ month: '2027-02', chargesInMonth: 1 });
  });
});

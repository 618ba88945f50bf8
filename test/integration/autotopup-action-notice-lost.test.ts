import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AutoTopupNotice } from '../../functions/commons/autotopup/notices.ts';
import { turnOffAutoTopup } from '../../functions/commons/autotopup/settings.ts';
import { type StripeStandIn, startStripeStandIn } from '../../local/stripe/server.ts';
import { useAlertingSink } from '../helpers/alerting.ts';
import { autoTopupRig, optInWithCard } from '../helpers/autotopup.ts';
import { customerBalance } from '../helpers/balances.ts';

/**
 * Review 8 (#26, F4): the bank asks for 3-D Secure; the engine writes ACTION_REQUIRED, then sends
 * the customer's notice. The Lambda is killed between the two (or the outbox write fails: it
 * is logged, not thrown). The episode notes the notice due (noticeDue) before sending it and clears it
 * once sent: until then every run sends it again (one notice id, delivered once). gb100 below 20 GB.
 */
const KEY = 'sk_test_adv_action';
const alerting = useAlertingSink('adv-action-alerts');
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

describe('a 3-D Secure request whose notice was lost', () => {
  it('is told to the customer or to an agent again', { timeout: 60_000 }, async () => {
    let now = new Date('2026-12-01T12:00:00Z');
    const rig = await autoTopupRig('adv-action-lost', () => now, { url: standIn.url, key: KEY });
    const { sink } = await alerting.create(() => now);
    const sent: AutoTopupNotice[] = [];
    let kill = 1;
    const engine = rig.engine({
      sink,
      notices: {
        async send(n) {
          if (kill > 0) {
            kill -= 1;
            throw new Error('Lambda killed before the notice');
          }
          sent.push(n);
        },
      },
    });
    await optInWithCard(rig.store, rig.config, '951', now, {
      paymentMethod: 'pm_card_authenticationRequired',
    });
    await rig.pool('1000');
    await engine.onBalances([rig.change('951', '25', '12')]);
    expect((await rig.store.get('951'))?.episode?.state).toBe('ACTION_REQUIRED');
    // 18 hours of runs (inside autoTopup.actionWaitHours): 951 uses its last 12 GB, stands at 0.
    const steps: [string, string][] = [
      ['12', '8'],
      ['8', '4'],
      ['4', '0'],
    ];
    for (const [before, after] of steps) {
      now = new Date(now.getTime() + 6 * 3_600_000);
      await rig.pool('1000');
      await engine.onBalances([rig.change('951', before, after)]);
      await engine.onBalances([]);
    }
    expect(standIn.paymentIntents()).toHaveLength(1);
    // Sent again by the next run, then noted: not once per run.
    expect(sent.map((n) => [n.kind, n.episode])).toEqual([['authentication-required', 1]]);
    expect((await rig.store.get('951'))?.episode?.noticeDue).toBeUndefined();
  });
});

/**
 * Review 13 (#26, F2): a 3-D Secure episode no longer wanted (turned off, or no longer low) is
 * closed with its PaymentIntent canceled at Stripe: no pay link sent after the turn-off, and no
 * earlier link can pay it (a later episode would charge again: two charges).
 */
describe('a 3-D Secure episode no longer wanted', () => {
  async function waiting(name: string, id: string, gb: () => string, clock: () => Date) {
    const rig = await autoTopupRig(name, clock, { url: standIn.url, key: KEY });
    const { sink } = await alerting.create(clock);
    const sent: AutoTopupNotice[] = [];
    let fail = 1;
    const engine = rig.engine({
      sink,
      balances: {
        current: async (ids) =>
          new Map(ids.map((c) => [c, customerBalance(c, gb(), clock(), { recentCredits: [] })])),
      },
      notices: {
        async send(n) {
          if (fail > 0) {
            fail -= 1;
            throw new Error('outbox throttled');
          }
          sent.push(n);
        },
      },
    });
    await optInWithCard(rig.store, rig.config, id, clock(), {
      paymentMethod: 'pm_card_authenticationRequired',
    });
    await rig.pool('1000');
    await engine.onBalances([rig.change(id, '25', '12')]);
    const rec = await rig.store.get(id);
    expect(rec?.episode?.state).toBe('ACTION_REQUIRED');
    expect(rec?.episode?.noticeDue).toBe(true);
    expect(sent).toHaveLength(0);
    return { rig, engine, sent };
  }

  it('sends no pay link after the customer turned auto top-up off, and cancels the payment', {
    timeout: 60_000,
  }, async () => {
    let now = new Date('2026-12-01T12:00:00Z');
    const { rig, engine, sent } = await waiting(
      'adv13-off',
      '962',
      () => '12',
      () => now,
    );
    await turnOffAutoTopup(rig.store, { customerId: '962', by: 'portal', now });
    now = new Date(now.getTime() + 600_000);
    await rig.pool('1000');
    await engine.onBalances([]);
    expect(sent.map((n) => n.kind)).toEqual([]);
    expect((await rig.store.get('962'))?.episode).toBeUndefined();
    expect(standIn.paymentIntents().map((p) => p.status)).toEqual(['canceled']);
  });

  it('cancels the payment when the customer is no longer low', { timeout: 60_000 }, async () => {
    let now = new Date('2026-12-01T12:00:00Z');
    let gb = '12';
    const { rig, engine } = await waiting(
      'adv13-notlow',
      '964',
      () => gb,
      () => now,
    );
    now = new Date(now.getTime() + 600_000);
    gb = '40';
    await rig.pool('1000');
    await engine.onBalances([rig.change('964', '12', '40')]);
    expect((await rig.store.get('964'))?.episode).toBeUndefined();
    expect(standIn.paymentIntents().map((p) => p.status)).toEqual(['canceled']);
  });
});

/**
 * Review 13 (#26, F3): a 3-D Secure request the customer never completes no longer blocks auto
 * top-up for ever: a card saved (turned on again) since ends it, and a wait past
 * autoTopup.actionWaitHours (24 h) is closed, its payment canceled and an agent told once.
 */
describe('a 3-D Secure request the customer never completes', () => {
  it('does not keep a new card from being charged for days', { timeout: 60_000 }, async () => {
    let now = new Date('2026-12-01T12:00:00Z');
    const rig = await autoTopupRig('adv13-stuck', () => now, { url: standIn.url, key: KEY });
    const { sink } = await alerting.create(() => now);
    let gb = '12';
    const engine = rig.engine({
      sink,
      balances: {
        current: async (ids) =>
          new Map(ids.map((id) => [id, customerBalance(id, gb, now, { recentCredits: [] })])),
      },
    });
    await optInWithCard(rig.store, rig.config, '963', now, {
      paymentMethod: 'pm_card_authenticationRequired',
    });
    await rig.pool('1000');
    await engine.onBalances([rig.change('963', '25', '12')]);
    expect((await rig.store.get('963'))?.episode?.state).toBe('ACTION_REQUIRED');
    // An hour later the card that needs no authentication is on file, auto top-up on.
    now = new Date(now.getTime() + 3_600_000);
    await optInWithCard(rig.store, rig.config, '963', now, { paymentMethod: 'pm_card_visa' });
    const steps: [string, string][] = [
      ['12', '8'],
      ['8', '4'],
      ['4', '2'],
    ];
    for (const [before, after] of steps) {
      now = new Date(now.getTime() + 24 * 3_600_000);
      gb = after;
      await rig.pool('1000');
      await engine.onBalances([rig.change('963', before, after)]);
      await engine.onBalances([]);
    }
    const statuses = standIn.paymentIntents().map((p) => p.status);
    expect(statuses.filter((s) => s === 'succeeded')).toHaveLength(1);
    expect(statuses.filter((s) => s === 'canceled')).toHaveLength(1);
  });

  it('is canceled and an agent told once after actionWaitHours', { timeout: 60_000 }, async () => {
    let now = new Date('2026-12-01T12:00:00Z');
    const rig = await autoTopupRig('adv13-expire', () => now, { url: standIn.url, key: KEY });
    const { store: alerts, sink } = await alerting.create(() => now);
    const engine = rig.engine({
      sink,
      balances: {
        current: async (ids) =>
          new Map(ids.map((id) => [id, customerBalance(id, '12', now, { recentCredits: [] })])),
      },
    });
    await optInWithCard(rig.store, rig.config, '965', now, {
      paymentMethod: 'pm_card_authenticationRequired',
    });
    await rig.pool('1000');
    await engine.onBalances([rig.change('965', '25', '12')]);
    const ep = (await rig.store.get('965'))?.episode;
    expect(ep?.state).toBe('ACTION_REQUIRED');
    const subject = `autotopup:action:965:${ep?.n}`;
    // Just inside the bound: it still waits for the customer.
    now = new Date(now.getTime() + rig.config.autoTopup.actionWaitHours * 3_600_000 - 60_000);
    await engine.onBalances([]);
    expect((await rig.store.get('965'))?.episode?.state).toBe('ACTION_REQUIRED');
    expect(await alerts.get('topup-failed', subject)).toBeUndefined();
    now = new Date(now.getTime() + 120_000);
    await engine.onBalances([]);
    const after = await rig.store.get('965');
    expect(after?.episode?.n).not.toBe(ep?.n);
    expect(standIn.paymentIntents()[0]?.status).toBe('canceled');
    expect((await alerts.get('topup-failed', subject))?.status ?? 'ok').not.toBe('ok');
  });
});

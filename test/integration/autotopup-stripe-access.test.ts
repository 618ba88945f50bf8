import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStripeApi } from '../../functions/commons/autotopup/stripe-api.ts';
import { stripeClient } from '../../functions/commons/clients/stripe.ts';
import { type StripeStandIn, startStripeStandIn } from '../../local/stripe/server.ts';
import { useAlertingSink } from '../helpers/alerting.ts';
import { autoTopupRig } from '../helpers/autotopup.ts';

/**
 * Found by adversarial review 4 (#26): `#accessSettled` lives on the engine, and customer-actions keeps
 * the engine while its container is warm. Once any call of the container got an answer, a
 * later "Stripe answers again" no longer closes `autotopup:stripe-access`: the alert of the
 * first revoked key stays open (acknowledged by the person who rotated the key), and the next
 * revocation folds into it. No person hears that auto top-up cannot charge anyone.
 */
const KEY = 'sk_test_access_warm';
const alerting = useAlertingSink('stripe-access-alerts');
let standIn: StripeStandIn;
beforeAll(async () => {
  standIn = await startStripeStandIn({ apiKey: KEY, webhookMode: 'manual' });
});
afterAll(async () => {
  await standIn.close();
});

it('a second key refusal in a warm container notifies a person', {
  timeout: 60_000,
}, async () => {
  let now = new Date('2026-12-01T12:00:00Z');
  const clock = () => now;
  const rig = await autoTopupRig('stripe-access-warm', clock, { url: standIn.url, key: KEY });
  const { store: alerts, sink } = await alerting.create(clock);
  await rig.pool('1000000');
  let key = KEY;
  // One engine, as the warm customer-actions container keeps it.
  const engine = rig.engine({
    stripe: async () => createStripeApi(stripeClient(key, standIn.url)),
    sink,
  });
  const low = (id: string) => [rig.change(id, '25', '12')];
  const { published } = alerting;
  await rig.optIn('901', '902', '903', '904');

  // Run 1: Stripe answers (the container's first answer).
  await engine.onBalances(low('901'));
  expect(standIn.paymentIntents()).toHaveLength(1);
  // Run 2: the key is revoked: a person is told.
  key = 'sk_test_revoked';
  now = new Date(now.getTime() + 3_600_000);
  await engine.onBalances(low('902'));
  expect(published()).toBe(1);
  // The person acknowledges and rotates the key; run 3 charges again.
  await alerts.acknowledge('topup-failed', 'autotopup:stripe-access', { at: now, by: 'agent' });
  key = KEY;
  now = new Date(now.getTime() + 3_600_000);
  await engine.onBalances(low('903'));
  expect(standIn.paymentIntents()).toHaveLength(2);
  // Run 4: the key is refused again; nobody can be charged now.
  key = 'sk_test_revoked';
  now = new Date(now.getTime() + 3_600_000);
  await engine.onBalances(low('904'));
  await sink.remindDue();
  expect(standIn.paymentIntents()).toHaveLength(2);
  expect(published()).toBeGreaterThan(1);
});

import { randomBytes } from 'node:crypto';
import { STRIPE_API_BASE_ENV, STRIPE_KEY_NAMES } from '../../functions/commons/clients/stripe.ts';
import { allowedHosts } from '../runtime/env.ts';
import { hostRefusal } from '../runtime/guard.ts';
import { type StripeStandIn, startStripeStandIn } from './server.ts';

export type { StripeStandIn, StripeStandInOptions, WebhookDelivery } from './server.ts';
export { startStripeStandIn } from './server.ts';

/** The stand-in listens here whatever `HOST` says: nothing off this machine may reach it. */
const LOOPBACK = '127.0.0.1';

export interface LocalStripe {
  /** For the banner: where auto top-up's Stripe API is, or why there is none. */
  describe: string;
  /** The stand-in's key for this run, printed by the banner; undefined without a stand-in. */
  standInKey: string | undefined;
  standIn: StripeStandIn | undefined;
  /** Once the runtime listens: where the stand-in delivers its webhooks. */
  forwardTo(webhookUrl: string): void;
}

const none = (describe: string): LocalStripe => ({
  describe,
  standInKey: undefined,
  standIn: undefined,
  forwardTo: () => undefined,
});

/**
 * `npm start`: the Stripe API at `STRIPE_API_BASE_URL` when set. Else, with the simulator, a
 * built-in stand-in whose `payment_intent.succeeded` events go to this runtime's own Stripe
 * webhook, signed with its `STRIPE_WEBHOOK_SECRET`, as `stripe listen --forward-to` would: on
 * loopback, refusing a foreign `Host`, and opened by a random key of this run only, which
 * both functions are given. With the real upstream there is never a stand-in (its charges
 * would credit real traffic): without `STRIPE_API_BASE_URL` the Stripe keys are dropped, so
 * auto top-up and Checkout opt-ins are off.
 */
export async function startLocalStripe(
  env: NodeJS.ProcessEnv,
  upstream: 'real' | 'simulator',
): Promise<LocalStripe> {
  const given = env[STRIPE_API_BASE_ENV];
  if (given) return none(`Stripe API at ${given}`);
  if (upstream === 'real') {
    for (const name of STRIPE_KEY_NAMES) delete env[name];
    return none(
      `none: auto top-up and Checkout opt-ins are off (with the real upstream set ${STRIPE_API_BASE_ENV}=https://api.stripe.com and the Stripe keys)`,
    );
  }
  const key = `rk_test_local_${randomBytes(24).toString('hex')}`;
  for (const name of STRIPE_KEY_NAMES) env[name] = key;
  const hosts = allowedHosts(LOOPBACK);
  const standIn = await startStripeStandIn({
    host: LOOPBACK,
    apiKey: key,
    refuse: (req) => hostRefusal(req, hosts),
  });
  env[STRIPE_API_BASE_ENV] = standIn.url;
  return {
    describe: `built-in Stripe stand-in at ${standIn.url} (set ${STRIPE_API_BASE_ENV} for another)`,
    standInKey: key,
    standIn,
    forwardTo(webhookUrl) {
      // Several secrets may be configured (rotation); Stripe signs with the newest, the first.
      const secret = (env.STRIPE_WEBHOOK_SECRET ?? '').split(/[\s,]+/).find((s) => s !== '');
      if (secret) standIn.setWebhook({ url: webhookUrl, secret });
    },
  };
}

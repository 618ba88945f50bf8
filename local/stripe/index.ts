import { STRIPE_API_BASE_ENV } from '../../functions/commons/clients/stripe.ts';
import { type StripeStandIn, startStripeStandIn } from './server.ts';

export type { StripeStandIn, StripeStandInOptions, WebhookDelivery } from './server.ts';
export { startStripeStandIn } from './server.ts';

/** The local runtime's API key for its stand-in; it opens nothing anywhere else. */
export const LOCAL_STRIPE_API_KEY = 'sk_test_flowpilot_local';

/**
 * `npm start`: the Stripe API at `STRIPE_API_BASE_URL` when set, else a built-in stand-in
 * whose `payment_intent.succeeded` events go to this runtime's own Stripe webhook, signed
 * with its `STRIPE_WEBHOOK_SECRET`, as `stripe listen --forward-to` would.
 */
export async function startLocalStripe(
  env: NodeJS.ProcessEnv,
  host: string,
): Promise<{
  describe: string;
  standIn: StripeStandIn | undefined;
  /** Once the runtime listens: where the stand-in delivers its webhooks. */
  forwardTo(webhookUrl: string): void;
}> {
  const given = env[STRIPE_API_BASE_ENV];
  if (given) {
    return { describe: `Stripe API at ${given}`, standIn: undefined, forwardTo: () => undefined };
  }
  env.STRIPE_API_KEY ||= LOCAL_STRIPE_API_KEY;
  const standIn = await startStripeStandIn({ host, apiKey: env.STRIPE_API_KEY });
  env[STRIPE_API_BASE_ENV] = standIn.url;
  return {
    describe: `built-in Stripe stand-in at ${standIn.url} (set STRIPE_API_BASE_URL for another)`,
    standIn,
    forwardTo(webhookUrl) {
      // Several secrets may be configured (rotation); Stripe signs with the newest, the first.
      const secret = (env.STRIPE_WEBHOOK_SECRET ?? '').split(/[\s,]+/).find((s) => s !== '');
      if (secret) standIn.setWebhook({ url: webhookUrl, secret });
    },
  };
}

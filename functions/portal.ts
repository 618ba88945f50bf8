import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { getConfig } from '#config';
import { docClient } from './commons/clients/dynamodb.ts';
import { STRIPE_API_BASE_ENV, secretKeyRefusal, stripeClient } from './commons/clients/stripe.ts';
import { noticeDelivery } from './commons/customer-notices/delivery.ts';
import { customerNoticesFromEnv } from './commons/customer-notices/from-env.ts';
import { ConfigError } from './commons/errors.ts';
import { instrument } from './commons/observability.ts';
import { createPortalApp, type PortalDeps } from './commons/portal/app.ts';
import { toPortalRequest, toResult } from './commons/portal/http.ts';
import { PortalStore } from './commons/portal/store.ts';
import { stripeCheckout } from './commons/portal/stripe-checkout.ts';
import { portalKeys } from './commons/portal/tokens.ts';
import { getSecret, requireSecret } from './commons/secrets.ts';
import { AutoTopupStore } from './commons/store/autotopup.ts';
import { CheckoutSessionStore } from './commons/store/checkout-sessions.ts';
import { CustomerBalanceStore } from './commons/store/customer-balances.ts';
import { CustomerContactStore } from './commons/store/customer-contacts.ts';
import { CustomerRecordStore } from './commons/store/customer-records.ts';
import { tableName } from './commons/store/table.ts';
import { UsageStore } from './commons/store/usage.ts';

const TOO_LARGE: APIGatewayProxyStructuredResultV2 = {
  statusCode: 413,
  headers: { 'content-type': 'text/plain; charset=utf-8' },
  body: 'request body too large',
};

/** The keys for the secret's current text (rotation takes effect when the cache turns). */
async function keysFromSecret() {
  return portalKeys(await getSecret('PORTAL_SECRET'), process.env.PORTAL_SECRET_PREVIOUS);
}

/**
 * The Buy button's Stripe client, with a key that may create Checkout Sessions and nothing
 * else (`STRIPE_CHECKOUT_KEY`): an internet-facing function holds no key that can charge.
 */
async function checkoutClient(allowSecretKey: boolean) {
  const key = await requireSecret('STRIPE_CHECKOUT_KEY');
  const refused = secretKeyRefusal('STRIPE_CHECKOUT_KEY', key, allowSecretKey);
  if (refused) throw new ConfigError(refused);
  return stripeClient(key, process.env[STRIPE_API_BASE_ENV]);
}

/** The page's parts over the function's table; `secure` is false only in the local runtime. */
export function portalDepsFromEnv(secure: boolean): PortalDeps {
  const table = tableName();
  const config = getConfig();
  return {
    config,
    keys: keysFromSecret,
    portal: new PortalStore(docClient, table),
    view: {
      balances: new CustomerBalanceStore(docClient, table),
      contacts: new CustomerContactStore(docClient, table),
      autoTopup: new AutoTopupStore(docClient, table),
      usage: new UsageStore(docClient, table),
      records: new CustomerRecordStore(docClient, table),
    },
    contacts: new CustomerContactStore(docClient, table),
    autoTopup: new AutoTopupStore(docClient, table),
    clock: () => new Date(),
    secure,
    // A change of email sends its link: locally printed, in AWS once the stack grants SES.
    ...(!secure || noticeDelivery() === 'aws' ? { confirmations: customerNoticesFromEnv() } : {}),
    // Buy: with Stripe enabled only. Its Checkout pages are Stripe's (the stand-in's locally).
    ...(config.payments.providers.includes('stripe')
      ? {
          checkout: stripeCheckout({
            stripe: () => checkoutClient(config.payments.stripe.allowSecretKey),
            catalog: config.payments.catalog,
            sessions: new CheckoutSessionStore(docClient, table),
            clock: () => new Date(),
            ...(process.env[STRIPE_API_BASE_ENV]
              ? { origin: new URL(process.env[STRIPE_API_BASE_ENV]).origin }
              : {}),
          }),
        }
      : {}),
  };
}

/** `ANY /portal/{proxy+}`: the customer's own page behind a signed link (README "Customer page"). */
export function createPortalHandler(deps: () => PortalDeps) {
  let app: ReturnType<typeof createPortalApp> | undefined;
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    const req = toPortalRequest(event);
    if (!req) return TOO_LARGE;
    app ??= createPortalApp(deps());
    return toResult(await app(req));
  };
}

export const handler = instrument(createPortalHandler(() => portalDepsFromEnv(true)));

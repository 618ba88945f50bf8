/**
 * `npm run demo:payment [-- --provider stripe|standard|epay]`: sends a correctly signed
 * payment to the running local runtime (Stripe `checkout.session.completed` by default), then
 * shows the simulator's ledger so you can see the credit.
 * Options (environment): PORT (3000), CUSTOMER_ID (1001, a simulator customer), PACKAGE
 * (the first catalog package in the provider's currency), QUANTITY (1), PAYMENT_ID (random;
 * SESSION_ID for Stripe), and the secret of the provider (STRIPE_WEBHOOK_SECRET,
 * STANDARD_WEBHOOK_SECRET, EPAY_KEY; the local development values when unset).
 */
import '../local/runtime/process-env.ts';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { loadConfig } from '../functions/commons/config/load.ts';
import type { Config } from '../functions/commons/config/schema.ts';
import { money } from '../functions/commons/money.ts';
import { LOCAL_DEMO_CATALOG, LOCAL_DEV_SECRETS } from '../local/runtime/env.ts';
import { startupFailure } from '../local/runtime/startup.ts';
import { type SignedRequest, signedEpayPayment, signedStandardPayment } from './demo-signing.ts';
import { signedCheckoutCompleted } from './stripe-checkout.ts';

const PROVIDERS = ['stripe', 'standard', 'epay'] as const;
type Provider = (typeof PROVIDERS)[number];

function usage(message: string): never {
  process.stderr.write(
    `demo:payment: ${message}\nusage: npm run demo:payment [-- --provider ${PROVIDERS.join('|')}]\n`,
  );
  process.exit(2);
}

let provider: Provider = 'stripe';
try {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { provider: { type: 'string' } },
    strict: true,
  });
  const given = values.provider ?? 'stripe';
  if (!(PROVIDERS as readonly string[]).includes(given)) {
    usage(`--provider must be one of ${PROVIDERS.join(', ')}; got ${JSON.stringify(given)}`);
  }
  provider = given as Provider;
} catch (err) {
  usage((err as Error).message.split('.')[0] ?? 'bad arguments');
}

// The same configuration as npm start, and the same one-line message when it is wrong.
let config: Config;
try {
  ({ config } = loadConfig());
} catch (err) {
  process.stderr.write(`${startupFailure(err)}\n`);
  process.exit(1);
}

const base = process.env.FLOWPILOT_URL ?? `http://127.0.0.1:${process.env.PORT || '3000'}`;
// A demo payment is signed with a public development secret: never against real traffic.
let health: { upstream?: string; simulatorUrl?: string };
try {
  health = (await (await fetch(`${base}/health`)).json()) as typeof health;
} catch (err) {
  process.stderr.write(
    `demo:payment: nothing answers at ${base} (${(err as Error).message}); start it first: npm start\n`,
  );
  process.exit(1);
}
if (health.upstream !== 'simulator') {
  process.stderr.write(
    `demo:payment: the runtime at ${base} uses the real upstream; demo payments only run against the simulator (start without IPWEB_BASE_URL)\n`,
  );
  process.exit(2);
}
const catalog: Record<string, { gb: string; price: number; currency: string }> = Object.keys(
  config.payments.catalog,
).length
  ? config.payments.catalog
  : LOCAL_DEMO_CATALOG;
// epay pays in its configured currency only; the others take any package.
const eligible = Object.keys(catalog).filter(
  (id) => provider !== 'epay' || catalog[id]?.currency === config.payments.epay.currency,
);
const packageId = process.env.PACKAGE ?? eligible[0] ?? '';
const item = catalog[packageId];
if (!item) usage(`no package ${JSON.stringify(packageId)} in the catalog for ${provider}`);
const quantity = Number(process.env.QUANTITY ?? '1');
const customerId = process.env.CUSTOMER_ID ?? '1001';
const paymentId =
  process.env.PAYMENT_ID ??
  (provider === 'stripe' ? process.env.SESSION_ID : undefined) ??
  `${provider === 'stripe' ? 'cs' : 'ord'}_demo_${randomBytes(8).toString('hex')}`;
const amountMinor = item.price * quantity;

function request(): SignedRequest {
  switch (provider) {
    case 'stripe': {
      const secret = process.env.STRIPE_WEBHOOK_SECRET || LOCAL_DEV_SECRETS.STRIPE_WEBHOOK_SECRET;
      const { payload, signature } = signedCheckoutCompleted({
        secret,
        sessionId: paymentId,
        customerId,
        packageId,
        quantity,
        amountMinor,
        currency: item?.currency ?? '',
      });
      return {
        path: '/webhooks/stripe',
        headers: { 'content-type': 'application/json', 'stripe-signature': signature },
        body: payload,
      };
    }
    case 'standard':
      return signedStandardPayment({
        // Several secrets during a rotation: any one signs.
        secret: (
          process.env.STANDARD_WEBHOOK_SECRET || LOCAL_DEV_SECRETS.STANDARD_WEBHOOK_SECRET
        ).split(' ')[0] as string,
        paymentId,
        customerId,
        packageId,
        quantity,
        amountMinor,
        currency: item?.currency ?? '',
      });
    case 'epay':
      return signedEpayPayment({
        key: process.env.EPAY_KEY || LOCAL_DEV_SECRETS.EPAY_KEY,
        pid: config.payments.epay.pid ?? '1001',
        paymentId,
        customerId,
        packageId,
        quantity,
        amountMinor,
      });
  }
}

const req = request();
let res: Response;
try {
  res = await fetch(`${base}${req.path}`, { method: 'POST', headers: req.headers, body: req.body });
} catch (err) {
  process.stderr.write(
    `demo:payment: nothing answers at ${base} (${(err as Error).message}); start it first: npm start\n`,
  );
  process.exit(1);
}
process.stdout.write(
  `POST ${base}${req.path} (${provider} payment ${paymentId}, customer ${customerId}, ` +
    `${quantity} × ${packageId} = ${item.gb} GB each, ${money(amountMinor, item.currency)})\n` +
    `→ ${res.status} ${await res.text()}\n`,
);
if (health.simulatorUrl) {
  const ledger = await (await fetch(`${health.simulatorUrl}/_sim/ledger`)).json();
  process.stdout.write(`simulator ledger: ${JSON.stringify(ledger, null, 2)}\n`);
}
process.exit(res.ok ? 0 : 1);

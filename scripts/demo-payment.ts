/**
 * `npm run demo:payment`: sends a correctly signed Stripe `checkout.session.completed` to the
 * running local runtime, then shows the simulator's ledger so you can see the credit.
 * Options (environment): PORT (3000), CUSTOMER_ID (1001, a simulator customer), PACKAGE
 * (the first catalog package), QUANTITY (1), SESSION_ID (random), STRIPE_WEBHOOK_SECRET.
 */
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../functions/commons/config/load.ts';
import { LOCAL_DEMO_CATALOG, LOCAL_DEV_SECRETS } from '../local/runtime/env.ts';
import { signedCheckoutCompleted } from './stripe-checkout.ts';

const base = process.env.FLOWPILOT_URL ?? `http://127.0.0.1:${process.env.PORT ?? '3000'}`;
const health = (await (await fetch(`${base}/health`)).json()) as {
  upstream?: string;
  simulatorUrl?: string;
};
// A demo payment is signed with a public development secret: never against real traffic.
if (health.upstream !== 'simulator') {
  process.stderr.write(
    `demo:payment: the runtime at ${base} uses the real upstream; demo payments only run against the simulator (start without IPWEB_BASE_URL)\n`,
  );
  process.exit(2);
}
const secret = process.env.STRIPE_WEBHOOK_SECRET || LOCAL_DEV_SECRETS.STRIPE_WEBHOOK_SECRET;
const { config } = loadConfig();
const catalog: Record<string, { gb: string; price: number; currency: string }> = Object.keys(
  config.payments.catalog,
).length
  ? config.payments.catalog
  : LOCAL_DEMO_CATALOG;
const packageId = process.env.PACKAGE ?? Object.keys(catalog)[0] ?? '';
const item = catalog[packageId];
if (!item) {
  process.stderr.write(`demo:payment: no package ${JSON.stringify(packageId)} in the catalog\n`);
  process.exit(2);
}
const quantity = Number(process.env.QUANTITY ?? '1');
const customerId = process.env.CUSTOMER_ID ?? '1001';
const sessionId = process.env.SESSION_ID ?? `cs_demo_${randomBytes(8).toString('hex')}`;

const { payload, signature } = signedCheckoutCompleted({
  secret,
  sessionId,
  customerId,
  packageId,
  quantity,
  amountMinor: item.price * quantity,
  currency: item.currency,
});

const res = await fetch(`${base}/webhooks/stripe`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', 'stripe-signature': signature },
  body: payload,
});
process.stdout.write(
  `POST ${base}/webhooks/stripe (session ${sessionId}, customer ${customerId}, ${quantity} × ${packageId} = ${item.gb} GB each)\n→ ${res.status} ${await res.text()}\n`,
);
if (health.simulatorUrl) {
  const ledger = await (await fetch(new URL('/_sim/ledger', health.simulatorUrl))).json();
  process.stdout.write(`simulator ledger: ${JSON.stringify(ledger, null, 2)}\n`);
}
process.exit(res.ok ? 0 : 1);

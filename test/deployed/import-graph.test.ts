import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import {
  FUNCTION_ENTRIES,
  type FunctionName,
  lambdaBuildOptions,
  PROJECT_ROOT,
} from '../../infra/bundling.ts';

/**
 * What each bundle must not hold, so that it starts fast: no zod (configuration arrives
 * validated, through `#config`), no payment providers in the pollers, no poller code in the
 * webhook, and nowhere the `stripe` package (signatures are checked with node:crypto, the
 * API called through clients/stripe.ts). Payloads and messages are read with typed field
 * reads, so no bundle holds zod at all. A function not listed gets the default.
 */
const STRIPE_SDK = 'node_modules/stripe/';
const DEFAULT_FORBIDDEN = ['node_modules/zod/', STRIPE_SDK];
/**
 * In no bundle: the AWS SDK's default credential chain (Lambda's credentials are in the
 * environment; infra/bundling.ts aliases the chain to the environment provider) and the X-Ray
 * SDK (functions/commons/tracing.ts sends the segments itself).
 */
const NEVER = [
  'node_modules/@aws-sdk/credential-provider-node/',
  'node_modules/@aws-sdk/credential-provider-sso/',
  'node_modules/@aws-sdk/nested-clients/',
  'node_modules/aws-xray-sdk-core/',
];
/** Customer notices and auto top-up: their own function, fed by poll-customers. */
const CUSTOMER_ACTIONS = [
  'functions/commons/customer-notices/',
  'functions/commons/autotopup/',
  'functions/commons/clients/stripe.ts',
  'node_modules/@aws-sdk/client-sesv2/',
];
const FORBIDDEN: Partial<Record<FunctionName, string[]>> = {
  // poll-totals sweeps deductions left DEDUCTING (payments/sweep.ts), but never a provider.
  'poll-totals': [...DEFAULT_FORBIDDEN, 'functions/commons/payments/providers/'],
  // It raises no alert, so it holds no SNS client.
  'poll-usage': [
    ...DEFAULT_FORBIDDEN,
    'functions/commons/payments/',
    'functions/commons/alerts/',
    'node_modules/@aws-sdk/client-sns/',
  ],
  'poll-customers': [...DEFAULT_FORBIDDEN, ...CUSTOMER_ACTIONS, 'functions/commons/payments/'],
  // It reads the balance-changes messages with typed reads, not zod; it never calls the
  // upstream, and reads orders without the ledger's writes (DynamoLedger).
  'customer-actions': [
    ...DEFAULT_FORBIDDEN,
    'functions/commons/payments/ledger/ledger.ts',
    'functions/commons/pollers/',
    'functions/commons/payments/providers/',
    'functions/commons/upstream/client.ts',
  ],
  reconcile: [...DEFAULT_FORBIDDEN, 'functions/commons/payments/'],
  'payment-webhook': [
    ...DEFAULT_FORBIDDEN,
    'functions/commons/pollers/',
    'functions/commons/config/schema.ts',
    // Standard Webhooks signatures are checked with node:crypto too.
    'node_modules/standardwebhooks/',
    // Customer notices (and their SES client) belong to the balance poll, not the opt-in.
    'functions/commons/customer-notices/',
    'node_modules/@aws-sdk/client-sesv2/',
  ],
};

/**
 * Each capability keeps its persistence in a `store/` folder (payments: `ledger/`); a
 * forbidden capability folder means its domain code, while its store may be read elsewhere.
 */
const STORE_FOLDERS = ['store/', 'ledger/'];
const holds = (input: string, forbidden: string) =>
  input.includes(forbidden) &&
  !(forbidden.endsWith('/') && STORE_FOLDERS.some((s) => input.includes(forbidden + s)));

describe('bundle import graphs', () => {
  it.each(Object.entries(FUNCTION_ENTRIES))(
    '%s holds only what it uses',
    async (name, entry) => {
      const { metafile } = await build({
        ...lambdaBuildOptions(),
        entryPoints: [join(PROJECT_ROOT, entry)],
        write: false,
        outdir: join(PROJECT_ROOT, '.cache', 'import-graph'),
        metafile: true,
        logLevel: 'silent',
      });
      const inputs = Object.keys(metafile.inputs);
      const forbidden = [...NEVER, ...(FORBIDDEN[name as FunctionName] ?? DEFAULT_FORBIDDEN)];
      const found = forbidden.filter((f) => inputs.some((i) => holds(i, f)));
      expect(found, `${name} bundles ${found.join(', ')}`).toEqual([]);
    },
    60_000,
  );
});

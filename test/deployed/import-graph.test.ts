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
 * validated, through `#config`), no Stripe or payment code in the pollers, no poller code in
 * the webhook. The webhook keeps zod for now: the payment providers parse payload shapes
 * with it. A function not listed gets the default.
 */
const DEFAULT_FORBIDDEN = ['node_modules/zod/'];
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
const FORBIDDEN: Partial<Record<FunctionName, string[]>> = {
  // poll-totals sweeps deductions left DEDUCTING (payments/sweep.ts), but never a provider.
  'poll-totals': [
    ...DEFAULT_FORBIDDEN,
    'node_modules/stripe/',
    'functions/commons/payments/providers/',
  ],
  'poll-usage': [...DEFAULT_FORBIDDEN, 'node_modules/stripe/', 'functions/commons/payments/'],
  reconcile: [...DEFAULT_FORBIDDEN, 'node_modules/stripe/', 'functions/commons/payments/'],
  'payment-webhook': ['functions/commons/pollers/', 'functions/commons/config/schema.ts'],
};

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
      const found = forbidden.filter((f) => inputs.some((i) => i.includes(f)));
      expect(found, `${name} bundles ${found.join(', ')}`).toEqual([]);
    },
    60_000,
  );
});

/**
 * Bundle size of each Lambda with the AWS SDK v3 bundled and left to the runtime, built with
 * the stack's esbuild settings (infra/bundling.ts). Prints bytes raw and deflated (a Lambda
 * zip is deflate), and the median time a fresh local Node process takes to import the bundle
 * (the external variant loads the SDK from node_modules, as the runtime would from its own).
 * That import time is only a local proxy: Lambda init time needs a real Lambda and is not
 * measured here. Run: npx tsx bench/bundle-size.ts
 *
 * A "commons" probe stands for a typical function (DynamoDB document client, SNS, Secrets
 * Manager, Powertools logger, EMF metrics, X-Ray tracing) so the figure means something even while an
 * entry point is still a placeholder.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import { type BuildOptions, build } from 'esbuild';
import { FUNCTION_ENTRIES, lambdaBuildOptions, PROJECT_ROOT } from '../infra/bundling.ts';
import { exitOnMissedGoals, goal } from './goal.ts';

const PROBE = `
import { docClient } from './functions/commons/clients/dynamodb.ts';
import { snsClient } from './functions/commons/clients/sns.ts';
import { getSecret } from './functions/commons/secrets.ts';
import { logger } from './functions/commons/logger.ts';
import { instrument, recordMetric } from './functions/commons/observability.ts';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { PublishCommand } from '@aws-sdk/client-sns';
export const handler = instrument(async () => {
  logger.info('probe');
  recordMetric('Probe', 'Count', 1);
  await docClient.send(new GetCommand({ TableName: 't', Key: { pk: 'a', sk: 'b' } }));
  await snsClient.send(new PublishCommand({ TopicArn: 'x', Message: 'y' }));
  return getSecret('IPWEB_TOKEN');
});
`;

function options(external: string[]): BuildOptions {
  return { ...lambdaBuildOptions(), write: false, external, logLevel: 'silent' };
}

// Inside the project so that an external `@aws-sdk/*` import resolves from node_modules.
const OUT_DIR = join(PROJECT_ROOT, '.cache', 'bundle-size');
const IMPORT_RUNS = 5;

/** Median milliseconds for a fresh Node process to import the file; undefined if it throws. */
function importMs(file: string): number | undefined {
  const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); console.log(performance.now() - t);`;
  const runs: number[] = [];
  for (let i = 0; i < IMPORT_RUNS; i++) {
    try {
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        env: { ...process.env, AWS_REGION: 'us-east-1' },
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      runs.push(Number(out.toString().trim()));
    } catch {
      return undefined;
    }
  }
  return runs.sort((a, b) => a - b)[Math.floor(runs.length / 2)];
}

async function measure(
  label: string,
  input: { entry: string } | { probe: string },
  external: string[],
): Promise<{ raw: number; zipped: number; importMs: number | undefined }> {
  const result = await build({
    ...options(external),
    ...('entry' in input
      ? { entryPoints: [join(PROJECT_ROOT, input.entry)] }
      : { stdin: { contents: input.probe, resolveDir: PROJECT_ROOT, loader: 'ts' } }),
  });
  const code = result.outputFiles?.[0]?.contents ?? new Uint8Array();
  const file = join(OUT_DIR, `${label}.mjs`);
  writeFileSync(file, code);
  return {
    raw: code.byteLength,
    zipped: deflateRawSync(code, { level: 9 }).byteLength,
    importMs: importMs(file),
  };
}

/**
 * Size goals (issue #13): the pollers at most 400 KB raw, the webhook 700 KB; customer-actions,
 * which holds Stripe and SES as the webhook holds Stripe and the providers, the webhook's.
 */
const LIMIT_KB: Record<string, number> = {
  'poll-totals': 400,
  'poll-usage': 400,
  'poll-customers': 400,
  reconcile: 400,
  'payment-webhook': 700,
  'customer-actions': 700,
  // Issue #28: the customer page, SDK (DynamoDB, Secrets Manager) included.
  portal: 400,
};

const kb = (n: number) => `${(n / 1024).toFixed(1).padStart(7)} KB`;

const rows: [string, { entry: string } | { probe: string }][] = [
  ...Object.entries(FUNCTION_ENTRIES).map(
    ([name, entry]) => [name, { entry }] as [string, { entry: string }],
  ),
  ['(commons probe)', { probe: PROBE }],
];

const ms = (n: number | undefined) =>
  n === undefined ? '    n/a' : `${n.toFixed(0).padStart(4)} ms`;

mkdirSync(OUT_DIR, { recursive: true });
console.log(
  'function          | SDK bundled: raw / zipped / local import | SDK external: raw / zipped / local import',
);
for (const [name, input] of rows) {
  const label = name.replace(/\W/g, '');
  const bundled = await measure(`${label}-bundled`, input, []);
  const external = await measure(`${label}-external`, input, ['@aws-sdk/*', '@smithy/*']);
  const limit = LIMIT_KB[name];
  console.log(
    `${name.padEnd(17)} | ${kb(bundled.raw)} / ${kb(bundled.zipped)} / ${ms(bundled.importMs)} | ${kb(external.raw)} / ${kb(external.zipped)} / ${ms(external.importMs)}` +
      (limit === undefined
        ? ''
        : goal(Math.round(bundled.raw / 1024), {
            name: `${name} bundle (raw, SDK bundled)`,
            op: '<=',
            limit,
            unit: ' KB',
          })),
  );
}
exitOnMissedGoals();

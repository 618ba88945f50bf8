import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions } from 'esbuild';
import { configSchemaFingerprint } from './config-env.ts';

/** Repository root: entries, lock file and tsconfig are found from here, not from `cwd`. */
export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Lambda entry points, one file each under functions/. */
export const FUNCTION_ENTRIES = {
  'poll-totals': 'functions/poll-totals.ts',
  'poll-usage': 'functions/poll-usage.ts',
  'poll-customers': 'functions/poll-customers.ts',
  'customer-actions': 'functions/customer-actions.ts',
  reconcile: 'functions/reconcile.ts',
  'payment-webhook': 'functions/payment-webhook.ts',
  portal: 'functions/portal.ts',
} as const;

export type FunctionName = keyof typeof FUNCTION_ENTRIES;

/**
 * The package.json `imports` condition under which a bundle takes its zod-free variants
 * (`#config` → functions/commons/config/prevalidated.ts). `module` is listed because esbuild
 * stops adding it by itself once conditions are given, and packages' ESM builds need it.
 */
export const BUNDLE_CONDITIONS = ['flowpilot-lambda', 'module'] as const;

/** Constants built into each bundle: the configuration schema it was built with. */
export function bundleDefine(): Record<string, string> {
  return { __FLOWPILOT_CONFIG_SCHEMA__: JSON.stringify(configSchemaFingerprint()) };
}

/**
 * Module replacements in the Lambda bundles, relative to the project root (esbuild resolves
 * alias targets from its working directory, which is the project root for NodejsFunction and
 * for lambdaBuildOptions). The AWS SDK's default credential chain becomes the environment
 * provider alone: see functions/commons/clients/lambda-credentials.ts.
 */
export const BUNDLE_ALIASES = {
  '@aws-sdk/credential-provider-node': './functions/commons/clients/lambda-credentials.ts',
} as const;

/** esbuild target matching the Lambda runtime (nodejs22.x). */
export const NODE_TARGET = 'node22';

/**
 * AWS SDK v3 is bundled, not taken from the runtime. Measured with bench/bundle-size.ts
 * (minified ESM): bundling adds about 350 KB raw / 105 KB zipped per function (e.g.
 * payment-webhook 1149 KB / 272 KB bundled against 797 KB / 164 KB external), far inside
 * Lambda's limits; a fresh local Node process imported the bundled variant 1.5 to 2.7 times
 * faster than the external one loading the SDK from node_modules, as the runtime would. In
 * exchange it pins the SDK version we test against (the runtime's copy changes under us) and
 * keeps only the code used. Lambda init time itself needs an AWS account and was not measured.
 */
export const BUNDLE_AWS_SDK = true;

/**
 * The esbuild options FlowPilotFunction gives NodejsFunction, for the benches and tests that
 * build the same bundles themselves (with write: false and their own entry).
 */
export function lambdaBuildOptions(): BuildOptions {
  return {
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: NODE_TARGET,
    minify: true,
    mainFields: ['module', 'main'],
    conditions: [...BUNDLE_CONDITIONS],
    define: bundleDefine(),
    alias: { ...BUNDLE_ALIASES },
    absWorkingDir: PROJECT_ROOT,
  };
}

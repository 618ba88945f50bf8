import { createHash } from 'node:crypto';
import { ConfigError } from '../errors.ts';
import type { Config } from './schema.ts';

/**
 * How a deployed function gets its configuration without the schema (and zod) in its bundle:
 * the CDK app validates it at synth (infra/config-env.ts) and sets `FLOWPILOT_CONFIG_JSON`
 * plus `FLOWPILOT_CONFIG_CHECK`, which names the schema it was validated against and holds a
 * digest of the JSON (validated configuration is plain JSON; synth refuses anything else).
 * The bundle carries its own schema's fingerprint
 * (esbuild `define`), so configuration validated by another version of the code, or edited
 * by hand after synth, is refused at start instead of being trusted.
 *
 * Bundles get this module through the `flowpilot-lambda` condition of the `#config` import
 * (package.json); everything else (local runtime, tests) gets load.ts, which parses with zod.
 */
export const CONFIG_CHECK_ENV = 'FLOWPILOT_CONFIG_CHECK';
// load.ts's CONFIG_JSON_ENV, repeated so that this module does not import the schema.
const CONFIG_JSON_ENV = 'FLOWPILOT_CONFIG_JSON';

export interface ConfigCheck {
  /** Fingerprint of the schema that validated the JSON. */
  readonly schema: string;
  /** sha256 of the schema fingerprint and the JSON, exactly as set. */
  readonly digest: string;
}

export function configDigest(schema: string, json: string): string {
  return createHash('sha256').update(schema).update('\n').update(json).digest('hex');
}

// Set by esbuild at bundling (infra/bundling.ts); absent when run from source.
declare const __FLOWPILOT_CONFIG_SCHEMA__: string | undefined;
const BUNDLED_SCHEMA =
  typeof __FLOWPILOT_CONFIG_SCHEMA__ === 'string' ? __FLOWPILOT_CONFIG_SCHEMA__ : undefined;

function parseCheck(text: string | undefined): ConfigCheck {
  if (!text) throw new ConfigError(`${CONFIG_CHECK_ENV} environment variable is not set`);
  try {
    const check = JSON.parse(text) as ConfigCheck;
    if (typeof check.schema === 'string' && typeof check.digest === 'string') return check;
  } catch {
    // Reported below with the same message as a wrong shape.
  }
  throw new ConfigError(`${CONFIG_CHECK_ENV} is not a configuration check`);
}

/** The configuration a deployed function was given, checked against this code's schema. */
export function readPrevalidatedConfig(
  env: NodeJS.ProcessEnv = process.env,
  codeSchema: string | undefined = BUNDLED_SCHEMA,
): Config {
  const json = env[CONFIG_JSON_ENV];
  if (!json) throw new ConfigError(`${CONFIG_JSON_ENV} environment variable is not set`);
  const check = parseCheck(env[CONFIG_CHECK_ENV]);
  if (codeSchema === undefined) {
    throw new ConfigError('this build carries no configuration schema fingerprint');
  }
  if (check.schema !== codeSchema) {
    throw new ConfigError(
      `configuration was validated against schema ${check.schema}, this code has ${codeSchema}: deploy code and configuration together (cdk deploy)`,
    );
  }
  if (configDigest(check.schema, json) !== check.digest) {
    throw new ConfigError(
      `${CONFIG_JSON_ENV} changed after it was validated: set configuration through cdk deploy`,
    );
  }
  return JSON.parse(json) as Config;
}

let cached: Config | undefined;

/** The process's configuration, read once (cold start) and reused. */
export function getConfig(): Config {
  cached ??= readPrevalidatedConfig();
  return cached;
}

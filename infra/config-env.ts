import { createHash } from 'node:crypto';
import { z } from 'zod';
import { CONFIG_JSON_ENV } from '../functions/commons/config/load.ts';
import {
  CONFIG_CHECK_ENV,
  type ConfigCheck,
  configDigest,
} from '../functions/commons/config/prevalidated.ts';
import { type Config, configSchema } from '../functions/commons/config/schema.ts';
import { ConfigError } from '../functions/commons/errors.ts';

let fingerprint: string | undefined;

/**
 * Fingerprint of the configuration schema as this code defines it (its JSON Schema, input
 * side), built into each bundle and into each function's configuration check: the two must
 * agree at start (functions/commons/config/prevalidated.ts).
 */
export function configSchemaFingerprint(): string {
  fingerprint ??= createHash('sha256')
    .update(JSON.stringify(z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' })))
    .digest('hex')
    .slice(0, 16);
  return fingerprint;
}

/**
 * Validated configuration must be plain JSON (schemas normalise, e.g. GB amounts to decimal
 * text), because functions read it back with JSON.parse alone; anything else stops synth.
 */
function assertPlainJson(value: unknown, path: string[] = []): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      assertPlainJson(v, [...path, String(i)]);
    });
  } else if (value !== null && typeof value === 'object') {
    if (Object.getPrototypeOf(value) !== Object.prototype) {
      throw new ConfigError(
        `${path.join('.')}: a ${value.constructor.name} cannot reach the functions as JSON; the schema must output plain values`,
      );
    }
    for (const [k, v] of Object.entries(value)) assertPlainJson(v, [...path, k]);
  } else if (
    typeof value === 'bigint' ||
    typeof value === 'function' ||
    typeof value === 'symbol'
  ) {
    throw new ConfigError(
      `${path.join('.')}: a ${typeof value} cannot reach the functions as JSON`,
    );
  }
}

/**
 * The variables through which validated configuration reaches every function: the JSON the
 * local runtime also reads, and the check that lets a bundle trust it without the schema.
 */
export function configEnvironment(config: Config): Record<string, string> {
  assertPlainJson(config);
  const json = JSON.stringify(config);
  const schema = configSchemaFingerprint();
  const check: ConfigCheck = { schema, digest: configDigest(schema, json) };
  return { [CONFIG_JSON_ENV]: json, [CONFIG_CHECK_ENV]: JSON.stringify(check) };
}

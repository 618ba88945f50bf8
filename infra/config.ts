import { resolve } from 'node:path';
import type { Node } from 'constructs';
import { loadConfig, loadConfigFile, parseConfig } from '../functions/commons/config/load.ts';
import type { Config } from '../functions/commons/config/schema.ts';
import { ConfigError } from '../functions/commons/errors.ts';
import { assertDeployable } from './limits.ts';

/** `cdk.json` context (or `-c flowpilot='{...}'`) holding the configuration inline. */
export const CONFIG_CONTEXT_KEY = 'flowpilot';
/** `-c config=path/to/file.json`: the configuration file to deploy. */
export const CONFIG_FILE_CONTEXT_KEY = 'config';

/**
 * The configuration the stack deploys, from the same schema as the local runtime. First
 * match wins: the `flowpilot` context object, the file named by the `config` context, then
 * what the local runtime would read (`FLOWPILOT_CONFIG_JSON`, the file named by
 * `FLOWPILOT_CONFIG`, `flowpilot.config.json`, built-in defaults). A wrong key, or a value
 * this deployment cannot honour (infra/limits.ts), throws a ConfigError naming it, so
 * synthesis stops before anything is built.
 */
export function loadInfraConfig(
  node: Pick<Node, 'tryGetContext'>,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): { config: Config; source: string } {
  const loaded = loadRawInfraConfig(node, env, cwd);
  assertDeployable(loaded.config, loaded.source);
  return loaded;
}

function loadRawInfraConfig(
  node: Pick<Node, 'tryGetContext'>,
  env: NodeJS.ProcessEnv,
  cwd: string,
): { config: Config; source: string } {
  const inline: unknown = node.tryGetContext(CONFIG_CONTEXT_KEY);
  if (inline !== undefined) {
    const source = `context "${CONFIG_CONTEXT_KEY}"`;
    return { config: parseConfig(fromContext(inline, source), source), source };
  }
  const file: unknown = node.tryGetContext(CONFIG_FILE_CONTEXT_KEY);
  if (file !== undefined) {
    if (typeof file !== 'string' || file === '') {
      throw new ConfigError(`context "${CONFIG_FILE_CONTEXT_KEY}" must be a file path`);
    }
    const path = resolve(cwd, file);
    return { config: loadConfigFile(path), source: path };
  }
  return loadConfig(env, cwd);
}

/** `-c key=value` arrives as a string; cdk.json gives the object itself. */
function fromContext(value: unknown, source: string): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch (cause) {
    throw new ConfigError(`invalid ${source}: not JSON`, [], { cause });
  }
}

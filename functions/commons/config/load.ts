import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { type Config, configSchema } from './schema.ts';

/** Name of the environment variable through which a deployed function receives its config. */
export const CONFIG_JSON_ENV = 'FLOWPILOT_CONFIG_JSON';
export const CONFIG_FILE_ENV = 'FLOWPILOT_CONFIG';
export const DEFAULT_CONFIG_FILE = 'flowpilot.config.json';

function describe(issue: z.core.$ZodIssue): string {
  const key = issue.path.length ? issue.path.map(String).join('.') : '(root)';
  if (issue.code === 'unrecognized_keys') {
    const prefix = issue.path.length ? `${key}.` : '';
    return issue.keys.map((k) => `${prefix}${k}: unknown key`).join('\n');
  }
  return `${key}: ${issue.message}`;
}

/** Validates raw configuration; the error names every wrong key and why. */
export function parseConfig(raw: unknown, source = 'configuration'): Config {
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  const issues = result.error.issues.flatMap((i) => describe(i).split('\n'));
  throw new ConfigError(`invalid ${source}:\n  ${issues.join('\n  ')}`, issues);
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`invalid ${source}: not JSON (${(cause as Error).message})`, [], {
      cause,
    });
  }
}

/** Reads a config file (JSON) and validates it. */
export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(`cannot read configuration file ${path}`, [], { cause });
  }
  return parseConfig(parseJson(text, path), path);
}

/**
 * Where configuration comes from, first match wins: `FLOWPILOT_CONFIG_JSON` (deployed
 * functions), the file named by `FLOWPILOT_CONFIG`, `flowpilot.config.json` in `cwd`,
 * else the built-in defaults.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): { config: Config; source: string } {
  const inline = env[CONFIG_JSON_ENV];
  if (inline) {
    return {
      config: parseConfig(parseJson(inline, CONFIG_JSON_ENV), CONFIG_JSON_ENV),
      source: CONFIG_JSON_ENV,
    };
  }
  const named = env[CONFIG_FILE_ENV];
  if (named) {
    const path = resolve(cwd, named);
    return { config: loadConfigFile(path), source: path };
  }
  const fallback = resolve(cwd, DEFAULT_CONFIG_FILE);
  if (existsSync(fallback)) return { config: loadConfigFile(fallback), source: fallback };
  return { config: parseConfig({}, 'built-in defaults'), source: 'built-in defaults' };
}

let cached: Config | undefined;

/** The process's configuration, parsed once (cold start) and reused. */
export function getConfig(): Config {
  cached ??= loadConfig().config;
  return cached;
}

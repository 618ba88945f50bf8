import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { jsonErrorAt } from './json-position.ts';
import { type Config, configSchema } from './schema.ts';
import { closest } from './suggest.ts';

/** Name of the environment variable through which a deployed function receives its config. */
export const CONFIG_JSON_ENV = 'FLOWPILOT_CONFIG_JSON';
export const CONFIG_FILE_ENV = 'FLOWPILOT_CONFIG';
export const DEFAULT_CONFIG_FILE = 'flowpilot.config.json';

/** The keys an object schema at `path` knows, through defaults and optionals. */
function knownKeys(path: readonly PropertyKey[]): string[] {
  let schema: unknown = configSchema;
  const unwrap = (s: unknown): unknown => {
    let cur = s as { _zod?: { def?: { innerType?: unknown; in?: unknown } } } | undefined;
    for (let n = 0; n < 10 && cur?._zod?.def; n++) {
      const def = cur._zod.def;
      const inner = def.innerType ?? def.in;
      if (!inner) break;
      cur = inner as typeof cur;
    }
    return cur;
  };
  for (const step of path) {
    const shape = (unwrap(schema) as { shape?: Record<string, unknown> } | undefined)?.shape;
    schema = shape?.[String(step)];
    if (!schema) return [];
  }
  return Object.keys((unwrap(schema) as { shape?: Record<string, unknown> })?.shape ?? {});
}

function describe(issue: z.core.$ZodIssue): string {
  const key = issue.path.length ? issue.path.map(String).join('.') : '(root)';
  if (issue.code === 'unrecognized_keys') {
    const prefix = issue.path.length ? `${key}.` : '';
    const known = knownKeys(issue.path);
    return issue.keys
      .map((k) => {
        const near = closest(k, known);
        return `${prefix}${k}: unknown key${near ? ` (did you mean ${prefix}${near}?)` : ''}`;
      })
      .join('\n');
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
    const at = jsonErrorAt(text);
    throw new ConfigError(
      `invalid ${source}: not JSON at line ${at.line}, column ${at.column} (found ${at.found})`,
      [],
      { cause },
    );
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

import { ConfigError } from './errors.ts';

/** Reads a required environment variable or fails with its name. */
export function getStringFromEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new ConfigError(`${name} environment variable is not set`);
  }
  return value;
}

export function getOptionalStringFromEnv(
  name: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

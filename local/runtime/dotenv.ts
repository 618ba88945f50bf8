import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';

/** What `.env` gave: the file, and the variables taken from it (the environment wins). */
export interface DotEnv {
  path: string;
  applied: string[];
}

/**
 * Reads `<cwd>/.env` when present (as `.env.example` suggests), for `npm start` and the CLI.
 * A variable already set in the environment, even to an empty string, is left alone, so a
 * command line always overrides the file.
 */
export function loadDotEnv(env: NodeJS.ProcessEnv, cwd: string): DotEnv | undefined {
  const path = resolve(cwd, '.env');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  const applied: string[] = [];
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (value === undefined || name in env) continue;
    env[name] = value;
    applied.push(name);
  }
  return { path, applied };
}

/** One line for people: which file was read and what it set (names only, never values). */
export function describeDotEnv(loaded: DotEnv | undefined): string | undefined {
  if (!loaded) return undefined;
  return loaded.applied.length
    ? `read ${loaded.path} (${loaded.applied.join(', ')})`
    : `read ${loaded.path} (nothing new: the environment already sets each variable)`;
}

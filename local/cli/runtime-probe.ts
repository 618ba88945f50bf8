import { CliError } from './errors.ts';

/**
 * Whether a local runtime answers on the port this CLI would expect (PORT, default 3000)
 * while working on another data directory: the CLI would then read a store that is not the
 * runtime's, silently. A quiet port, or something that is not FlowPilot, is no conflict.
 */
export async function refuseOtherRuntime(
  env: NodeJS.ProcessEnv,
  dataDir: string,
  timeoutMs = 500,
): Promise<void> {
  const url = `http://${env.HOST || '127.0.0.1'}:${env.PORT || '3000'}/health`;
  let health: { dataDir?: unknown };
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return;
    health = (await res.json()) as { dataDir?: unknown };
  } catch {
    return;
  }
  if (typeof health.dataDir !== 'string' || health.dataDir === dataDir) return;
  throw new CliError(
    `the local runtime at ${url.replace(/\/health$/, '')} works on ${health.dataDir}, but this ` +
      `command would read ${dataDir}: run it with FLOWPILOT_DATA_DIR=${health.dataDir} ` +
      '(or from the directory npm start runs in)',
  );
}

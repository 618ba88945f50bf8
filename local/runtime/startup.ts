import type { Server } from 'node:http';
import { ConfigError, FlowPilotError } from '../../functions/commons/errors.ts';

/** A reason not to start that one line explains; printed as it is, exit 1. */
export class StartupError extends FlowPilotError {}

/** A port someone else holds, with what to set instead. */
export class PortInUseError extends StartupError {}

/**
 * Turns a listen failure into one line that says how to pick another port. `variable` is
 * the setting that chose the port (PORT, SIMULATOR_PORT).
 */
export function explainListenError(
  err: unknown,
  where: { host: string; port: number; variable: string; example: string },
): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  const { host, port, variable, example } = where;
  if (code === 'EADDRINUSE') {
    return new PortInUseError(
      `port ${port} on ${host} (${variable}) is already in use by another program or another ` +
        `FlowPilot; pick another one, e.g. ${example}`,
      { cause: err },
    );
  }
  if (code === 'EACCES') {
    return new PortInUseError(
      `port ${port} on ${host} (${variable}) needs privileges; pick one above 1023, e.g. ${example}`,
      { cause: err },
    );
  }
  return err;
}

/** Listens, or rejects with explainListenError's answer. */
export function listen(
  server: Server,
  where: { host: string; port: number; variable: string; example: string },
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(explainListenError(err, where)));
    server.listen(where.port, where.host, () => resolve());
  });
}

/** The one line `npm start` (and `npm run demo:payment`) prints when it cannot start. */
export function startupFailure(err: unknown): string {
  if (err instanceof ConfigError || err instanceof StartupError) return `flowpilot: ${err.message}`;
  return `flowpilot: could not start: ${(err as Error).message}`;
}

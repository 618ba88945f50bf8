/**
 * Imported first by local/main.ts, before any module builds an SDK client or a Powertools
 * instance at module scope: those read these variables when they are built.
 */
import { loadDotEnv } from './dotenv.ts';
import { installReadableLogs, readableLogsWanted } from './log-format.ts';

let loaded: ReturnType<typeof loadDotEnv>;
let failure: Error | undefined;
try {
  loaded = loadDotEnv(process.env, process.cwd());
} catch (err) {
  failure = err as Error;
}
/** `.env` in the working directory, read before anything looks at the environment. */
export const dotEnv = loaded;
/** Set when `.env` exists but cannot be read; main.ts stops with it. */
export const dotEnvError = failure;

// The Lambdas run Node 22; the SDK's warning about the local Node is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// No CloudWatch here: EMF documents would only clutter the console.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

/** Whether log lines print readably (a terminal, or LOG_FORMAT=text) rather than as JSON. */
export const readableLogs = readableLogsWanted(process.env, process.stdout.isTTY === true);
if (readableLogs) {
  // Powertools then prints through the global console, which installReadableLogs wraps.
  process.env.POWERTOOLS_DEV = 'true';
  installReadableLogs({ color: process.stdout.isTTY === true && !process.env.NO_COLOR });
}

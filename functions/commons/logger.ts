import { Logger, LogLevelThreshold } from '@aws-lambda-powertools/logger';

// Secrets are never handed to the logger; keys that could carry one are masked anyway, in
// case a payload or an error's fields slip through. `message`/`name` stay readable.
const SECRET_KEYS = /token|secret|signature|authorization|password|^sign$|key$/i;

/** JSON replacer for every log line: a secret-looking key's value becomes `[redacted]`. */
export function redactSecrets(key: string, value: unknown): unknown {
  return key && SECRET_KEYS.test(key) && value !== undefined && value !== null
    ? '[redacted]'
    : value;
}

/**
 * Lambda Managed Instances run invocations side by side (`AWS_LAMBDA_MAX_CONCURRENCY`), and
 * Powertools keeps a level per invocation there; a function on its own runs one at a time.
 */
const levelPerInvocation = (process.env.AWS_LAMBDA_MAX_CONCURRENCY ?? '') !== '';

/**
 * Powertools' logger, remembering whether INFO is on: its `level` reads the environment on
 * every call (to find out whether the level is per invocation), and the webhook asks once
 * per delivery (bench/hot-path.perf.ts measures both). Every change of level at run time
 * (the operator's, debug sampling per invocation, the test's) goes through `setLogLevel`.
 */
class FlowPilotLogger extends Logger {
  // Not a #private field: Powertools may call setLogLevel from its own constructor (debug
  // sampling), before a subclass's private fields exist.
  infoOn: boolean | undefined;

  override setLogLevel(logLevel: Parameters<Logger['setLogLevel']>[0]): void {
    super.setLogLevel(logLevel);
    this.infoOn = undefined;
  }
}

export const logger = new FlowPilotLogger({
  serviceName: 'flowpilot',
  jsonReplacerFn: redactSecrets,
});

/**
 * Whether an INFO line would be written now (the invocation's level, as the logger itself
 * decides): a hot path skips building the attributes of a line that would be dropped.
 */
export function infoEnabled(): boolean {
  if (levelPerInvocation) return logger.level <= LogLevelThreshold.INFO;
  logger.infoOn ??= logger.level <= LogLevelThreshold.INFO;
  return logger.infoOn;
}

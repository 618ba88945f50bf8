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

export const logger = new Logger({ serviceName: 'flowpilot', jsonReplacerFn: redactSecrets });

/**
 * Whether an INFO line would be written now (the invocation's level, as the logger itself
 * decides): a hot path skips building the attributes of a line that would be dropped.
 */
export function infoEnabled(): boolean {
  return logger.level <= LogLevelThreshold.INFO;
}

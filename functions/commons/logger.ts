import { Logger } from '@aws-lambda-powertools/logger';

// One logger per process. Secrets are never passed to it; keys that could carry one are
// masked anyway in case a payload slips through.
const SECRET_KEYS = /token|secret|signature|authorization|sign$|key$/i;

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEYS.test(k) ? '[redacted]' : redact(v, depth + 1);
  }
  return out;
}

export const logger = new Logger({ serviceName: 'flowpilot' });

import type { Config } from '../functions/commons/config/schema.ts';
import { ConfigError } from '../functions/commons/errors.ts';
import type { FunctionName } from './bundling.ts';

/**
 * The webhook route's integration timeout, the longest an HTTP API route takes (CDK allows 50 ms
 * to 29 s). Past it API Gateway answers the provider with an error of its own, whatever the
 * function later does.
 */
export const API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS = 29;

/**
 * Function timeouts in seconds: the stack deploys them and the local runtime counts each
 * handler's remaining time down from them, so both see the same deadline.
 */
export const FUNCTION_TIMEOUT_SECONDS: Readonly<Record<FunctionName, number>> = {
  // Room for the upstream's timeout times its retry attempts.
  'poll-totals': 90,
  // Paginated backfill; it stops safetyMarginMs before the deadline and resumes next run.
  'poll-usage': 300,
  // A steady run takes seconds; the first one walks the usage history and resumes if need be.
  'poll-customers': 300,
  // One message of changes: its notices and its charges (Stripe answers in about a second).
  'customer-actions': 300,
  reconcile: 300,
  // Under the integration timeout with room for a cold start, so the provider gets our answer.
  'payment-webhook': 25,
  // A page view is a handful of DynamoDB reads; Buy adds one Stripe call.
  portal: 15,
};

const RATE = /^rate\((\d+) (minute|hour|day)(s?)\)$/;
const CRON = /^cron\(\S+ \S+ (\S+) \S+ (\S+) \S+\)$/;

/**
 * What the schema cannot check on its own, because it depends on the deployment: the
 * payments lease must outlast the webhook function's timeout (else a retry could take over an
 * order whose first delivery is still calling the upstream), and schedule expressions must be
 * ones EventBridge accepts. Each issue names its key, like the schema's own.
 */
export function deploymentIssues(config: Config): string[] {
  const issues: string[] = [];
  const webhookTimeout = FUNCTION_TIMEOUT_SECONDS['payment-webhook'];
  if (config.payments.leaseSeconds <= webhookTimeout) {
    issues.push(
      `payments.leaseSeconds: must be more than the payment-webhook timeout (${webhookTimeout} s), so that a delivery's lease outlasts its run; got ${config.payments.leaseSeconds}`,
    );
  }
  for (const [key, expression] of Object.entries(config.schedules)) {
    const problem = scheduleProblem(expression);
    if (problem) issues.push(`schedules.${key}: ${problem}, got ${expression}`);
  }
  return issues;
}

function scheduleProblem(expression: string): string | undefined {
  const rate = RATE.exec(expression);
  if (rate) {
    const n = Number(rate[1]);
    if (n < 1) return 'a rate must be at least 1';
    // EventBridge refuses `rate(1 minutes)` and `rate(5 minute)`.
    if ((n === 1) !== (rate[3] === '')) {
      return `EventBridge wants "${rate[2]}" for 1 and "${rate[2]}s" above 1`;
    }
    return undefined;
  }
  const cron = CRON.exec(expression);
  if (cron && (cron[1] === '?') === (cron[2] === '?')) {
    return 'EventBridge wants "?" in exactly one of day-of-month and day-of-week';
  }
  return undefined;
}

/**
 * The real upstream over plain HTTP carries the token in clear: refused unless the
 * configuration accepts it on purpose. (The local simulator is http and is not checked.)
 */
export function insecureUpstreamIssue(config: Config): string | undefined {
  const { baseUrl, allowInsecureHttp } = config.upstream;
  if (new URL(baseUrl).protocol === 'https:' || allowInsecureHttp) return undefined;
  return `upstream.baseUrl: ${baseUrl} would send the upstream token in clear; use https://, or set upstream.allowInsecureHttp: true to accept that on purpose`;
}

/**
 * Throws a ConfigError listing every deployment issue, `source` naming where config came
 * from. `upstream: 'simulator'` (the local runtime without IPWEB_BASE_URL) skips the https
 * check, since the simulator replaces the configured upstream.
 */
export function assertDeployable(
  config: Config,
  source = 'configuration',
  upstream: 'real' | 'simulator' = 'real',
): void {
  const insecure = upstream === 'real' ? insecureUpstreamIssue(config) : undefined;
  const issues = [...deploymentIssues(config), ...(insecure ? [insecure] : [])];
  if (issues.length) {
    throw new ConfigError(`invalid ${source}:\n  ${issues.join('\n  ')}`, issues);
  }
}

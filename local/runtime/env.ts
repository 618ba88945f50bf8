import { resolve } from 'node:path';
import { ConfigError } from '../../functions/commons/errors.ts';

/** What the local runtime reads from its environment, validated once before anything starts. */
export interface LocalEnv {
  port: number;
  host: string;
  dataDir: string;
  tableName: string;
  dynamoEndpoint: string | undefined;
  snsTopicArn: string | undefined;
  upstream: { baseUrl: string; token: string } | undefined;
  simulatorPort: number;
}

/**
 * Used only by the local runtime when the configuration sells nothing, so that a newcomer's
 * `npm run demo:payment` has something to buy. Never part of the deployed configuration.
 */
export const LOCAL_DEMO_CATALOG: Record<string, { gb: string; price: number; currency: string }> = {
  'demo-10gb': { gb: '10', price: 500, currency: 'usd' },
  // epay pays in yuan: `npm run demo:payment -- --provider epay` buys this one.
  'demo-10gb-cny': { gb: '10', price: 3800, currency: 'cny' },
};

/** Secrets a newcomer gets without setting anything; printed by the banner, local only. */
export const LOCAL_DEV_SECRETS = {
  STRIPE_WEBHOOK_SECRET: 'whsec_flowpilot_local_dev',
  // Standard Webhooks secrets are base64 after the prefix.
  STANDARD_WEBHOOK_SECRET: `whsec_${Buffer.from('flowpilot-local-dev-secret-32byt').toString('base64')}`,
  EPAY_KEY: 'flowpilot-local-epay-key',
} as const;

function port(
  name: string,
  value: string | undefined,
  fallback: number,
  problems: string[],
): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) {
    problems.push(`${name} must be a port number 0-65535, got ${JSON.stringify(value)}`);
    return fallback;
  }
  return n;
}

function url(name: string, value: string | undefined, problems: string[]): string | undefined {
  if (value === undefined || value === '') return undefined;
  try {
    const u = new URL(value);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
    return value.replace(/\/+$/, '');
  } catch {
    problems.push(`${name} must be an http(s) URL, got ${JSON.stringify(value)}`);
    return undefined;
  }
}

/**
 * The simulator's default port: the next one after PORT (3001 for 3000), fixed so that saved
 * commands keep working across restarts; a free one when PORT is 0.
 */
export function simulatorPortFor(httpPort: number): number {
  if (httpPort === 0) return 0;
  return httpPort < 65_535 ? httpPort + 1 : httpPort - 1;
}

export function readLocalEnv(env: NodeJS.ProcessEnv, cwd: string): LocalEnv {
  const problems: string[] = [];
  const baseUrl = url('IPWEB_BASE_URL', env.IPWEB_BASE_URL, problems);
  const token = env.IPWEB_TOKEN;
  if (baseUrl && !token) problems.push('IPWEB_TOKEN must be set when IPWEB_BASE_URL is set');
  if (token && !env.IPWEB_BASE_URL) {
    problems.push(
      'IPWEB_TOKEN is set but IPWEB_BASE_URL is not: set IPWEB_BASE_URL to use the real ' +
        'upstream, or unset IPWEB_TOKEN to use the built-in simulator',
    );
  }
  const snsTopicArn = env.SNS_TOPIC_ARN || undefined;
  if (snsTopicArn && !/^arn:aws[\w-]*:sns:[\w-]+:\d{12}:[\w-]+$/.test(snsTopicArn)) {
    problems.push(`SNS_TOPIC_ARN must be an SNS topic ARN, got ${JSON.stringify(snsTopicArn)}`);
  }
  const tableName = env.TABLE_NAME || 'flowpilot';
  if (!/^[\w.-]{3,255}$/.test(tableName)) {
    problems.push(
      `TABLE_NAME must be 3-255 characters of [A-Za-z0-9_.-], got ${JSON.stringify(tableName)}`,
    );
  }
  const httpPort = port('PORT', env.PORT, 3000, problems);
  const result: LocalEnv = {
    port: httpPort,
    host: env.HOST || '127.0.0.1',
    dataDir: resolve(cwd, env.FLOWPILOT_DATA_DIR || '.data'),
    tableName,
    dynamoEndpoint: url('AWS_ENDPOINT_URL_DYNAMODB', env.AWS_ENDPOINT_URL_DYNAMODB, problems),
    snsTopicArn,
    upstream: baseUrl && token ? { baseUrl, token } : undefined,
    simulatorPort: port('SIMULATOR_PORT', env.SIMULATOR_PORT, simulatorPortFor(httpPort), problems),
  };
  if (problems.length) {
    throw new ConfigError(`invalid environment:\n  ${problems.join('\n  ')}`, problems);
  }
  return result;
}

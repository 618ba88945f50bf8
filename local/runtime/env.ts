import { randomBytes } from 'node:crypto';
import { hostname, networkInterfaces } from 'node:os';
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
  /** What `/_local/*` wants in `x-flowpilot-token`: `FLOWPILOT_LOCAL_TOKEN`, else random per run. */
  localToken: string;
  /** Host names (lower case, without port) the HTTP server answers to; see allowedHosts. */
  allowedHosts: ReadonlySet<string>;
}

/** The header carrying the per-run token on `/_local/*` (and on `/health`, to verify a runtime). */
export const LOCAL_TOKEN_HEADER = 'x-flowpilot-token';

/**
 * Used only by the local runtime with the simulator when the configuration sells nothing, so
 * that a newcomer's `npm run demo:payment` has something to buy. Never with the real upstream,
 * never part of the deployed configuration.
 */
export const LOCAL_DEMO_CATALOG: Record<string, { gb: string; price: number; currency: string }> = {
  'demo-10gb': { gb: '10', price: 500, currency: 'usd' },
  // epay pays in yuan: `npm run demo:payment -- --provider epay` buys this one.
  'demo-10gb-cny': { gb: '10', price: 3800, currency: 'cny' },
};

/**
 * Secrets a newcomer gets without setting anything; printed by the banner, with the
 * simulator only: never with the real upstream (see devSecretsIn).
 */
export const LOCAL_DEV_SECRETS = {
  STRIPE_WEBHOOK_SECRET: 'whsec_flowpilot_local_dev',
  // Standard Webhooks secrets are base64 after the prefix.
  STANDARD_WEBHOOK_SECRET: `whsec_${Buffer.from('flowpilot-local-dev-secret-32byt').toString('base64')}`,
  EPAY_KEY: 'flowpilot-local-epay-key',
  // Signs the customer page's links (`flowpilot customer link`); 32 characters at least.
  PORTAL_SECRET: 'flowpilot-local-portal-secret-dev-only',
} as const;

/**
 * Host names the local server answers to, so a web page cannot reach it through DNS
 * rebinding (a name of the attacker's resolving to 127.0.0.1): the loopback names, the
 * `HOST` it listens on, and when that is a wildcard (0.0.0.0, ::) this machine's own name
 * and addresses.
 */
export function allowedHosts(host: string): Set<string> {
  const names = new Set(['localhost', '127.0.0.1', '[::1]']);
  const bare = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (bare === '0.0.0.0' || bare === '::') {
    names.add(hostname().toLowerCase());
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) names.add(a.family === 'IPv6' ? `[${a.address}]` : a.address);
    }
  } else {
    names.add(bare.includes(':') ? `[${bare}]` : bare);
  }
  return names;
}

/** `http://host:port`, with an IPv6 address in brackets (`http://[::1]:3000`). */
export function httpUrl(host: string, port: number): string {
  const bare = host.replace(/^\[|\]$/g, '');
  return `http://${bare.includes(':') ? `[${bare}]` : bare}:${port}`;
}

/**
 * Development secrets are public (they are in this file): with the real upstream they would
 * let anyone who reads the source credit real traffic, so they are refused there.
 */
export function devSecretsIn(env: NodeJS.ProcessEnv): string[] {
  const dev = new Set<string>(Object.values(LOCAL_DEV_SECRETS));
  // Every variable a key is read from, the previous portal key too: it still verifies links.
  const names = [...Object.keys(LOCAL_DEV_SECRETS), 'PORTAL_SECRET_PREVIOUS'];
  return names.filter((name) => (env[name] ?? '').split(/\s+/).some((key) => dev.has(key)));
}

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
  const localToken = env.FLOWPILOT_LOCAL_TOKEN || randomBytes(24).toString('hex');
  if (!/^[\x21-\x7e]{16,200}$/.test(localToken)) {
    problems.push('FLOWPILOT_LOCAL_TOKEN must be 16-200 printable characters without spaces');
  }
  const upstream = baseUrl && token ? { baseUrl, token } : undefined;
  if (upstream) {
    for (const name of devSecretsIn(env)) {
      problems.push(
        `${name} holds the public local development value; with the real upstream (IPWEB_BASE_URL) set a real secret or leave it unset`,
      );
    }
  }
  const host = env.HOST || '127.0.0.1';
  const httpPort = port('PORT', env.PORT, 3000, problems);
  const result: LocalEnv = {
    port: httpPort,
    host,
    dataDir: resolve(cwd, env.FLOWPILOT_DATA_DIR || '.data'),
    tableName,
    dynamoEndpoint: url('AWS_ENDPOINT_URL_DYNAMODB', env.AWS_ENDPOINT_URL_DYNAMODB, problems),
    snsTopicArn,
    upstream,
    simulatorPort: port('SIMULATOR_PORT', env.SIMULATOR_PORT, simulatorPortFor(httpPort), problems),
    localToken,
    allowedHosts: allowedHosts(host),
  };
  if (problems.length) {
    throw new ConfigError(`invalid environment:\n  ${problems.join('\n  ')}`, problems);
  }
  return result;
}

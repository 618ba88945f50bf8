import Stripe from 'stripe';
import { ConfigError } from '../errors.ts';

/** Where the Stripe API is; unset means Stripe's own (`https://api.stripe.com`). */
export const STRIPE_API_BASE_ENV = 'STRIPE_API_BASE_URL';

const clients = new Map<string, Stripe>();

function target(baseUrl: string): { host: string; port: number; protocol: 'http' | 'https' } {
  let u: URL;
  try {
    u = new URL(baseUrl);
  } catch (cause) {
    throw new ConfigError(`${STRIPE_API_BASE_ENV} must be an http(s) URL`, [], { cause });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ConfigError(`${STRIPE_API_BASE_ENV} must be an http(s) URL`);
  }
  const protocol = u.protocol === 'http:' ? 'http' : 'https';
  return { host: u.hostname, port: Number(u.port || (protocol === 'http' ? 80 : 443)), protocol };
}

/**
 * The `stripe` client for a key and base URL, built once per container and kept, so warm
 * invocations reuse its connections; a rotated key gets a client of its own. The client
 * retries network failures and 5xx with the request's own idempotency key.
 */
export function stripeClient(apiKey: string, baseUrl?: string): Stripe {
  const cacheKey = `${baseUrl ?? ''}\n${apiKey}`;
  let client = clients.get(cacheKey);
  if (!client) {
    client = new Stripe(apiKey, {
      ...(baseUrl ? target(baseUrl) : {}),
      maxNetworkRetries: 2,
      timeout: 10_000,
      telemetry: false,
    });
    clients.set(cacheKey, client);
  }
  return client;
}

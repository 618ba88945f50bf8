import type { PortalStore } from './store.ts';
import { type PortalKeys, signToken } from './tokens.ts';

const DAY_SECONDS = 86_400;

/** The page's address under `baseUrl` (the API's URL or the domain in front of it). */
export function portalUrl(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/portal/${path}`;
}

/**
 * A link that opens the customer's page for `days` days (or until revoked): signed over the
 * customer, the expiry and the customer's current link version.
 */
export async function issueLink(input: {
  store: Pick<PortalStore, 'get'>;
  keys: PortalKeys;
  baseUrl: string;
  customerId: string;
  days: number;
  now: Date;
}): Promise<{ url: string; expires: Date; version: number }> {
  const { linkVersion } = await input.store.get(input.customerId);
  const expires = Math.floor(input.now.getTime() / 1000) + input.days * DAY_SECONDS;
  const token = signToken(input.keys, 'link', {
    customerId: input.customerId,
    version: linkVersion,
    expires,
  });
  return {
    url: portalUrl(input.baseUrl, `open?token=${encodeURIComponent(token)}`),
    expires: new Date(expires * 1000),
    version: linkVersion,
  };
}

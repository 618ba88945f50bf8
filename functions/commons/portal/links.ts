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

/** How long an unsubscribe link in an email stays valid (emails are read late). */
export const UNSUBSCRIBE_DAYS = 365;

/**
 * The `List-Unsubscribe` headers of a customer email (RFC 8058 one-click): an https URL with
 * a signed token that a POST of `List-Unsubscribe=One-Click` acts on.
 */
export async function unsubscribeHeaders(input: {
  store: Pick<PortalStore, 'get'>;
  keys: PortalKeys;
  baseUrl: string;
  customerId: string;
  now: Date;
}): Promise<Record<'List-Unsubscribe' | 'List-Unsubscribe-Post', string>> {
  const { linkVersion } = await input.store.get(input.customerId);
  const token = signToken(input.keys, 'unsubscribe', {
    customerId: input.customerId,
    version: linkVersion,
    expires: Math.floor(input.now.getTime() / 1000) + UNSUBSCRIBE_DAYS * DAY_SECONDS,
  });
  const url = portalUrl(input.baseUrl, `unsubscribe?token=${encodeURIComponent(token)}`);
  return {
    'List-Unsubscribe': `<${url}>`,
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
  };
}

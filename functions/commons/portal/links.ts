import { createHmac, timingSafeEqual } from 'node:crypto';
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
  const { url, expires } = pageLink(input, input.customerId, linkVersion, input.days, input.now);
  return { url, expires, version: linkVersion };
}

/** The signed `open` address of a customer's page, valid `days` days at `version`. */
function pageLink(
  opts: { keys: PortalKeys; baseUrl: string },
  customerId: string,
  version: number,
  days: number,
  now: Date,
): { url: string; expires: Date } {
  const expires = Math.floor(now.getTime() / 1000) + days * DAY_SECONDS;
  const token = signToken(opts.keys, 'link', { customerId, version, expires });
  return {
    url: portalUrl(opts.baseUrl, `open?token=${encodeURIComponent(token)}`),
    expires: new Date(expires * 1000),
  };
}

/** How long an unsubscribe link in an email stays valid (emails are read late). */
export const UNSUBSCRIBE_DAYS = 365;

const tagWith = (key: string, customerId: string, email: string) =>
  createHmac('sha256', key)
    .update(`flowpilot-portal|unsubscribe-address|${customerId}|${email}`)
    .digest('base64url')
    .slice(0, 22);

/**
 * Names the address an unsubscribe link was sent to without carrying it: the link stops
 * reminders to that address only, so a payer's receipt (sent to the payer's own address)
 * cannot turn off the customer's reminders.
 */
export function addressTag(keys: PortalKeys, customerId: string, email: string): string {
  return tagWith(keys.signing, customerId, email);
}

/** Whether `tag` names `email` for the customer under any of the keys. */
export function tagNames(
  keys: PortalKeys,
  customerId: string,
  email: string | undefined,
  tag: string | undefined,
): boolean {
  if (email === undefined || typeof tag !== 'string' || tag.length !== 22) return false;
  const given = Buffer.from(tag);
  return keys.verifying.some((k) =>
    timingSafeEqual(Buffer.from(tagWith(k, customerId, email)), given),
  );
}

export type UnsubscribeHeaders = Record<'List-Unsubscribe' | 'List-Unsubscribe-Post', string>;

function unsubscribeFor(
  keys: PortalKeys,
  baseUrl: string,
  customerId: string,
  version: number,
  email: string,
  now: Date,
): UnsubscribeHeaders {
  const token = signToken(keys, 'unsubscribe', {
    customerId,
    version,
    expires: Math.floor(now.getTime() / 1000) + UNSUBSCRIBE_DAYS * DAY_SECONDS,
  });
  const query = `token=${encodeURIComponent(token)}&a=${addressTag(keys, customerId, email)}`;
  return {
    'List-Unsubscribe': `<${portalUrl(baseUrl, `unsubscribe?${query}`)}>`,
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
  };
}

/**
 * The `List-Unsubscribe` headers of a customer email to `email` (RFC 8058 one-click): an
 * https URL with a signed token that a POST of `List-Unsubscribe=One-Click` acts on.
 */
export async function unsubscribeHeaders(input: {
  store: Pick<PortalStore, 'get'>;
  keys: PortalKeys;
  baseUrl: string;
  customerId: string;
  email: string;
  now: Date;
}): Promise<UnsubscribeHeaders> {
  const { linkVersion } = await input.store.get(input.customerId);
  return unsubscribeFor(
    input.keys,
    input.baseUrl,
    input.customerId,
    linkVersion,
    input.email,
    input.now,
  );
}

/** What a customer notice carries: the page link, and the email's unsubscribe headers. */
export interface NoticeLinks {
  page: string;
  unsubscribe?: UnsubscribeHeaders;
}

/**
 * The links of one notice, from one read of the customer's link version: a page link valid
 * `days` days (`flowpilot customer link`'s), and one-click unsubscribe for `email`.
 */
export function noticeLinks(opts: {
  store: Pick<PortalStore, 'get'>;
  keys: () => Promise<PortalKeys>;
  baseUrl: string;
  days: number;
}): (customerId: string, email: string | undefined, now: Date) => Promise<NoticeLinks> {
  return async (customerId, email, now) => {
    const [keys, { linkVersion }] = await Promise.all([opts.keys(), opts.store.get(customerId)]);
    const page = pageLink({ keys, baseUrl: opts.baseUrl }, customerId, linkVersion, opts.days, now);
    return {
      page: page.url,
      ...(email
        ? { unsubscribe: unsubscribeFor(keys, opts.baseUrl, customerId, linkVersion, email, now) }
        : {}),
    };
  };
}

import { createHmac, timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../errors.ts';

/**
 * Signed links and sessions of the customer page. Every token is an HMAC-SHA256, keyed by
 * the portal secret, over what it grants: a purpose (a link token opens a session, a session
 * reads the page, an unsubscribe token only unsubscribes), the customer, the customer's link
 * version (revocation bumps it) and an expiry. Nothing else in a token is trusted.
 */

/** What a token may be used for; a token of one purpose never verifies as another. */
export type TokenPurpose = 'link' | 'session' | 'unsubscribe';

export interface TokenClaims {
  customerId: string;
  /** The customer's link version when the token was issued. */
  version: number;
  /** Epoch seconds after which the token is refused. */
  expires: number;
}

/** The keys: the first signs, every one verifies (the others are the previous keys). */
export interface PortalKeys {
  readonly signing: string;
  readonly verifying: readonly string[];
}

/** Shortest key accepted: a guessable key would let anyone open any customer's page. */
export const MIN_KEY_LENGTH = 32;

/**
 * Keys from the secret's text, whitespace-separated, newest first (the same rotation as the
 * webhook secrets): put `new old`, and once every link and session signed with `old` has
 * expired, put `new` alone. `previous` (PORTAL_SECRET_PREVIOUS locally) is appended.
 */
export function portalKeys(secret: string | undefined, previous?: string): PortalKeys {
  const keys = [...(secret ?? '').split(/\s+/), ...(previous ?? '').split(/\s+/)].filter(Boolean);
  const [signing] = keys;
  if (!signing) throw new ConfigError('PORTAL_SECRET is not set');
  if (keys.some((k) => k.length < MIN_KEY_LENGTH)) {
    throw new ConfigError(`every PORTAL_SECRET key must be at least ${MIN_KEY_LENGTH} characters`);
  }
  return { signing, verifying: keys };
}

const ID = /^[1-9]\d{0,19}$/;
const NUMBER = /^(0|[1-9]\d{0,15})$/;

function mac(key: string, purpose: TokenPurpose, payload: string): Buffer {
  return createHmac('sha256', key).update(`flowpilot-portal|${purpose}|${payload}`).digest();
}

/** `<customerId>.<version>.<expires>.<signature>`, URL- and cookie-safe. */
export function signToken(keys: PortalKeys, purpose: TokenPurpose, claims: TokenClaims): string {
  const payload = `${claims.customerId}.${claims.version}.${claims.expires}`;
  return `${payload}.${mac(keys.signing, purpose, payload).toString('base64url')}`;
}

/**
 * The claims of a token of `purpose` signed by one of the keys and not expired at `now`;
 * undefined for anything else, without saying why (the caller answers 403 either way).
 */
export function verifyToken(
  keys: PortalKeys,
  purpose: TokenPurpose,
  token: string | undefined,
  now: Date,
): TokenClaims | undefined {
  if (typeof token !== 'string' || token.length > 200) return undefined;
  const parts = token.split('.');
  if (parts.length !== 4) return undefined;
  const [customerId = '', version = '', expires = '', signature = ''] = parts;
  if (!ID.test(customerId) || !NUMBER.test(version) || !NUMBER.test(expires)) return undefined;
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== 32 || given.toString('base64url') !== signature) return undefined;
  const payload = `${customerId}.${version}.${expires}`;
  const valid = keys.verifying.some((k) => timingSafeEqual(mac(k, purpose, payload), given));
  if (!valid) return undefined;
  const claims = { customerId, version: Number(version), expires: Number(expires) };
  return claims.expires * 1000 > now.getTime() ? claims : undefined;
}

/**
 * The CSRF token of a session: bound to the session cookie's value, so it is worthless
 * without the cookie, and the cookie is worthless to another site without it.
 */
export function csrfToken(keys: PortalKeys, session: string): string {
  return createHmac('sha256', keys.signing)
    .update(`flowpilot-portal|csrf|${session}`)
    .digest('base64url');
}

/** Whether `given` is the CSRF token of `session` under any of the keys. */
export function verifyCsrf(keys: PortalKeys, session: string, given: string | undefined): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given, 'utf8');
  return keys.verifying.some((k) => {
    const b = Buffer.from(
      createHmac('sha256', k).update(`flowpilot-portal|csrf|${session}`).digest('base64url'),
      'utf8',
    );
    return a.length === b.length && timingSafeEqual(a, b);
  });
}

import { AutoTopupSettingsError, setAutoTopup, turnOffAutoTopup } from '../autotopup/settings.ts';
import type { AutoTopupStore } from '../autotopup/store/autotopup.ts';
import type { Config } from '../config/schema.ts';
import {
  ContactConfirmError,
  confirmContact,
  describeConfirm,
  signConfirmToken,
} from '../customer-notices/confirm.ts';
import type { CustomerNotices } from '../customer-notices/listener.ts';
import {
  type CustomerContactStore,
  maskContact,
} from '../customer-notices/store/customer-contacts.ts';
import { ValidationError } from '../errors.ts';
import { logger } from '../logger.ts';
import { assertTimeZone } from '../units.ts';
import {
  confirmPage,
  messagePage,
  openPage,
  portalPage,
  STYLE_HASH,
  unsubscribePage,
} from './html.ts';
import { isPortalLocale, localeFromAcceptLanguage, type PortalLocale, WORDS } from './i18n.ts';
import { portalUrl, tagNames } from './links.ts';
import type { PortalRecord, PortalStore } from './store.ts';
import { csrfToken, type PortalKeys, signToken, verifyCsrf, verifyToken } from './tokens.ts';
import { loadView, type ViewStores } from './view.ts';

/** A request as the page sees it, whatever carried it (API Gateway, the local runtime). */
export interface PortalRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  /** Lower-case names. */
  headers: Readonly<Record<string, string | undefined>>;
  /** A name sent more than once maps to undefined: which one to trust is unknowable. */
  cookies: ReadonlyMap<string, string | undefined>;
  /** Form body, decoded. */
  body: string;
  sourceIp: string;
}

export interface PortalAnswer {
  status: number;
  headers: Record<string, string>;
  /** `Set-Cookie` values. */
  cookies: string[];
  body: string;
}

/** Creates Stripe Checkout Sessions for the page's Buy button (see stripe-checkout.ts). */
export interface CheckoutPort {
  /** Where Checkout pages live, for the CSP's form-action (the Buy POST redirects there). */
  readonly origin: string;
  create(input: {
    customerId: string;
    packageId: string;
    successUrl: string;
    cancelUrl: string;
    autoTopup?: { belowGb: string };
    /** The Stripe customer whose card is on file: the session is theirs, none other's. */
    stripeCustomer?: string;
  }): Promise<{ url: string }>;
  /** A `mode=setup` session: saves a card for auto top-up with `autoTopup`'s rule, no payment. */
  createSetup(input: {
    customerId: string;
    packageId: string;
    successUrl: string;
    cancelUrl: string;
    autoTopup: { belowGb: string };
    stripeCustomer?: string;
  }): Promise<{ url: string }>;
}

export interface PortalDeps {
  config: Pick<Config, 'portal' | 'upstream' | 'customers' | 'payments' | 'autoTopup'>;
  keys: () => Promise<PortalKeys>;
  portal: Pick<PortalStore, 'get' | 'setTimeZone' | 'hit' | 'endSessions'>;
  view: ViewStores;
  /**
   * Reminders per channel and one-click unsubscribe (receipts still go); a change of email,
   * pending until the link sent to the new address confirms it.
   */
  contacts: Pick<
    CustomerContactStore,
    'get' | 'edit' | 'requestEmail' | 'applyEmailChange' | 'confirmEmail'
  >;
  /** Sends the confirmation link of a new address; absent, the page offers no change. */
  confirmations?: Pick<CustomerNotices, 'sendEmailConfirmation' | 'sendEmailChanged'>;
  /** The customer's own auto top-up changes, recorded `by portal`. */
  autoTopup: Pick<AutoTopupStore, 'get' | 'commit'>;
  clock: () => Date;
  /** `Secure` cookies and an https origin: always in AWS; the local runtime is plain http. */
  secure: boolean;
  checkout?: CheckoutPort;
}

export const SESSION_COOKIE = 'fp_portal';
/** In AWS: `__Host-` lets only this origin over https set it (no Domain, Path=/, Secure). */
const SECURE_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;
export const LANG_COOKIE = 'fp_lang';
const PAGE = '/portal/me';
const RATE_WINDOW_SECONDS = 60;
/** Checkout Sessions one customer may open per hour: a few, whatever the page's own limit. */
export const CHECKOUT_SESSIONS_PER_HOUR = 5;
const ZONES = [
  'UTC',
  'Asia/Shanghai',
  'Asia/Hong_Kong',
  'Asia/Taipei',
  'Asia/Singapore',
  'Asia/Tokyo',
  'Europe/London',
  'Europe/Berlin',
  'America/New_York',
  'America/Los_Angeles',
];
/** Methods of the paths that serve more than POST (every other known path takes POST only). */
const ALLOW: Readonly<Record<string, string>> = { [PAGE]: 'GET', '/portal/confirm': 'GET, POST' };
/** Messages a redirect back to the page may ask for (never free text from the address). */
const FLASHES = { paid: 'buyDone', canceled: 'buyCanceled', sent: 'emailSent' } as const;
/** Outcomes of sending a confirmation link that mean it is on its way. */
const ON_ITS_WAY = ['sent', 'printed', 'retry'];

function headersFor(deps: PortalDeps): Record<string, string> {
  const formAction = deps.checkout ? `'self' ${deps.checkout.origin}` : `'self'`;
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': `default-src 'none'; style-src ${STYLE_HASH}; img-src 'self' data:; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    // Under no-referrer a browser posts the page's own forms with `Origin: null`: the Origin
    // check takes that only with `Sec-Fetch-Site: same-origin` (see sameOrigin below).
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cache-control': 'no-store',
  };
}

function cookie(deps: PortalDeps, name: string, value: string, maxAge: number): string {
  const secure = deps.secure ? '; Secure' : '';
  const path = name.startsWith('__Host-') ? '/' : '/portal';
  return `${name}=${value}; Path=${path}; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure}`;
}

function sessionCookie(deps: PortalDeps): string {
  return deps.secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
}

function localeOf(req: PortalRequest): PortalLocale {
  const chosen = req.cookies.get(LANG_COOKIE);
  if (isPortalLocale(chosen)) return chosen;
  return localeFromAcceptLanguage(req.headers['accept-language']) ?? 'en';
}

/** The origin this page is served from: the configured one, or the request's own host. */
function ownOrigins(req: PortalRequest, deps: PortalDeps): string[] {
  const out: string[] = [];
  const base = deps.config.portal.baseUrl;
  if (base) out.push(new URL(base).origin);
  const host = req.headers.host;
  if (host) out.push(`${deps.secure ? 'https' : 'http'}://${host.toLowerCase()}`);
  return out;
}

/**
 * A browser's POST from this page: its Origin is ours (or, where a browser sends none, or
 * `null` as it does for a page with `Referrer-Policy: no-referrer`, it says same-origin).
 * Anything else is another site's form aimed at the customer's cookie.
 */
function sameOrigin(req: PortalRequest, deps: PortalDeps): boolean {
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    return ownOrigins(req, deps).includes(origin.toLowerCase());
  }
  return req.headers['sec-fetch-site'] === 'same-origin';
}

interface Session {
  token: string;
  customerId: string;
  portal: PortalRecord;
}

function answer(
  deps: PortalDeps,
  status: number,
  body: string,
  extra: Partial<Pick<PortalAnswer, 'cookies'>> & { headers?: Record<string, string> } = {},
): PortalAnswer {
  return {
    status,
    headers: { ...headersFor(deps), ...extra.headers },
    cookies: extra.cookies ?? [],
    body,
  };
}

function redirect(deps: PortalDeps, to: string, cookies: string[] = []): PortalAnswer {
  return answer(deps, 303, '', { headers: { location: to }, cookies });
}

function message(
  deps: PortalDeps,
  status: number,
  locale: PortalLocale,
  key: 'forbidden' | 'notFound' | 'tooMany' | 'error',
): PortalAnswer {
  const w = WORDS[locale];
  const title = key === 'forbidden' ? w.forbiddenTitle : String(status);
  return answer(deps, status, messagePage(locale, title, w[key]), {
    ...(status === 429 ? { headers: { 'retry-after': String(RATE_WINDOW_SECONDS) } } : {}),
  });
}

/** Counts the request against `scope`'s limit; true when over it. */
async function limited(
  deps: PortalDeps,
  scope: 'customer' | 'address',
  who: string,
): Promise<boolean> {
  const { perCustomerPerMinute, perAddressPerMinute } = deps.config.portal.rateLimit;
  const max = scope === 'customer' ? perCustomerPerMinute : perAddressPerMinute;
  return (await deps.portal.hit(scope, who, deps.clock(), RATE_WINDOW_SECONDS)) > max;
}

/**
 * The customer whose valid session this request carries (signature, expiry and the
 * customer's current link version all checked), counted against the customer's limit.
 */
async function session(
  deps: PortalDeps,
  req: PortalRequest,
  keys: PortalKeys,
): Promise<Session | 'forbidden' | 'limited'> {
  const token = req.cookies.get(sessionCookie(deps));
  const claims = verifyToken(keys, 'session', token, deps.clock());
  if (!claims || !token) return 'forbidden';
  const [over, portal] = await Promise.all([
    limited(deps, 'customer', claims.customerId),
    deps.portal.get(claims.customerId),
  ]);
  if (portal.linkVersion !== claims.version) return 'forbidden';
  // Issued before the customer's last sign-out (one in the same second survives it).
  const issued = claims.expires - deps.config.portal.sessionHours * 3600;
  if (issued < (portal.sessionsNotBefore ?? 0)) return 'forbidden';
  if (over) return 'limited';
  return { token, customerId: claims.customerId, portal };
}

/**
 * A link sets the session cookie at once only when the browser says it was typed or opened
 * from outside any site (`Sec-Fetch-Site: none`, or a browser that sends none) and no other
 * customer's session is open. Otherwise another site may be logging the visitor in as its
 * own customer (whose page would then save the visitor's card), so the visitor sees whose
 * page this is and confirms by a same-origin POST.
 */
async function open(deps: PortalDeps, req: PortalRequest, keys: PortalKeys, locale: PortalLocale) {
  const now = deps.clock();
  const posted = req.method === 'POST';
  const token = posted
    ? (new URLSearchParams(req.body).get('token') ?? undefined)
    : (req.query.get('token') ?? undefined);
  if (posted && !sameOrigin(req, deps)) return message(deps, 403, locale, 'forbidden');
  const claims = verifyToken(keys, 'link', token, now);
  if (!claims || !token) return message(deps, 403, locale, 'forbidden');
  const portal = await deps.portal.get(claims.customerId);
  if (portal.linkVersion !== claims.version) return message(deps, 403, locale, 'forbidden');
  if (!posted) {
    const site = req.headers['sec-fetch-site'];
    const name = sessionCookie(deps);
    const current = verifyToken(keys, 'session', req.cookies.get(name), now);
    const twice = req.cookies.has(name) && req.cookies.get(name) === undefined;
    const other = twice || (current !== undefined && current.customerId !== claims.customerId);
    if (site !== 'none' || other) {
      // Named so a person recognises it: whose page, not just a number.
      const stored = await deps.view.balances.get(claims.customerId);
      const account = stored?.state.account;
      return answer(
        deps,
        200,
        openPage(locale, claims.customerId, token, account ? maskContact(account) : undefined),
      );
    }
  }
  const seconds = deps.config.portal.sessionHours * 3600;
  const value = signToken(keys, 'session', {
    customerId: claims.customerId,
    version: claims.version,
    expires: Math.floor(now.getTime() / 1000) + seconds,
  });
  // 303 to the page itself: the token leaves the address bar and the history.
  return redirect(deps, PAGE, [cookie(deps, sessionCookie(deps), value, seconds)]);
}

async function view(
  deps: PortalDeps,
  req: PortalRequest,
  s: Session,
  keys: PortalKeys,
  locale: PortalLocale,
) {
  const data = await loadView(deps.view, deps.config, s.portal, deps.clock());
  const flashKey = req.query.get('m');
  const flash =
    flashKey && Object.hasOwn(FLASHES, flashKey)
      ? WORDS[locale][FLASHES[flashKey as keyof typeof FLASHES]]
      : undefined;
  const zones = ZONES.includes(data.timeZone) ? ZONES : [data.timeZone, ...ZONES];
  return answer(
    deps,
    200,
    portalPage({
      view: data,
      locale,
      csrf: csrfToken(keys, s.token),
      catalog: deps.config.payments.catalog,
      canBuy: deps.checkout !== undefined,
      maxPerMonth: deps.config.autoTopup.defaultMaxPerMonth,
      zones,
      canChangeEmail: deps.confirmations !== undefined,
      ...(flash ? { flash } : {}),
    }),
  );
}

async function post(
  deps: PortalDeps,
  req: PortalRequest,
  s: Session,
  keys: PortalKeys,
  locale: PortalLocale,
): Promise<PortalAnswer> {
  const form = new URLSearchParams(req.body);
  if (!verifyCsrf(keys, s.token, form.get('csrf') ?? undefined)) {
    return message(deps, 403, locale, 'forbidden');
  }
  switch (req.path) {
    case '/portal/logout':
      await deps.portal.endSessions(s.customerId, deps.clock());
      return answer(
        deps,
        200,
        messagePage(locale, WORDS[locale].signOut, WORDS[locale].signedOut),
        {
          cookies: [cookie(deps, sessionCookie(deps), '', 0)],
        },
      );
    case '/portal/zone': {
      const zone = form.get('zone') ?? '';
      try {
        if (zone.length > 64) throw new Error('too long');
        assertTimeZone(zone);
      } catch {
        return answer(deps, 400, messagePage(locale, '400', WORDS[locale].error));
      }
      await deps.portal.setTimeZone(s.customerId, zone, deps.clock());
      return redirect(deps, PAGE);
    }
    case '/portal/buy':
      return buy(deps, req, form, s, locale);
    case '/portal/autotopup':
      return autoTopup(deps, req, form, s, locale);
    case '/portal/notices':
      await deps.contacts.edit(
        s.customerId,
        { reminders: { email: form.get('email') === 'on', sms: form.get('sms') === 'on' } },
        deps.clock(),
      );
      return redirect(deps, PAGE);
    case '/portal/email':
      return changeEmail(deps, req, form, s, keys, locale);
    case '/portal/confirm':
      return confirm(deps, form, s, keys, locale);
    default:
      return message(deps, 404, locale, 'notFound');
  }
}

/**
 * Auto top-up, self-service: off, or on with a package, threshold, days-left trigger and
 * monthly maximum within the agent's limit (`autoTopup.defaultMaxPerMonth`). Turning it on
 * needs a card saved for this customer (a paid Checkout the page created, or the operator);
 * without one the customer is sent to save one (saveCard). The page never takes a card id.
 * Recorded as `portal` in the history.
 */
async function autoTopup(
  deps: PortalDeps,
  req: PortalRequest,
  form: URLSearchParams,
  s: Session,
  locale: PortalLocale,
) {
  const now = deps.clock();
  const bad = () => answer(deps, 400, messagePage(locale, '400', WORDS[locale].autoInvalid));
  const int = (name: string) => {
    const v = form.get(name) ?? '';
    return v === '' ? undefined : /^\d{1,4}$/.test(v) ? Number(v) : Number.NaN;
  };
  try {
    if (form.get('enabled') !== 'on') {
      await turnOffAutoTopup(deps.autoTopup, { customerId: s.customerId, by: 'portal', now });
      return redirect(deps, PAGE);
    }
    const current = await deps.autoTopup.get(s.customerId);
    if (!current?.paymentMethod)
      return saveCard(deps, req, form, s, locale, current?.stripeCustomer);
    const maxPerMonth = int('maxPerMonth');
    const orDaysLeft = int('orDaysLeft');
    const limit = deps.config.autoTopup.defaultMaxPerMonth;
    if (maxPerMonth !== undefined && !(maxPerMonth >= 1 && maxPerMonth <= limit)) return bad();
    await setAutoTopup(
      deps.autoTopup,
      {
        customerId: s.customerId,
        packageId: form.get('package') ?? '',
        quantity: 1,
        belowGb: form.get('belowGb') ?? '',
        ...(orDaysLeft !== undefined ? { orDaysLeft } : {}),
        ...(maxPerMonth !== undefined ? { maxPerMonth } : {}),
        by: 'portal',
        now,
      },
      deps.config,
    );
    return redirect(deps, PAGE);
  } catch (err) {
    if (err instanceof AutoTopupSettingsError) return bad();
    throw err;
  }
}

/**
 * Turning auto top-up on without a card: a `mode=setup` Checkout Session FlowPilot creates
 * for this customer saves one, and the webhook turns auto top-up on with the rule given.
 */
async function saveCard(
  deps: PortalDeps,
  req: PortalRequest,
  form: URLSearchParams,
  s: Session,
  locale: PortalLocale,
  stripeCustomer: string | undefined,
): Promise<PortalAnswer> {
  const packageId = form.get('package') ?? '';
  const below = form.get('belowGb') ?? '';
  if (!deps.checkout || !Object.hasOwn(deps.config.payments.catalog, packageId)) {
    return answer(deps, 400, messagePage(locale, '400', WORDS[locale].autoInvalid));
  }
  if (!/^\d{1,6}(\.\d{1,2})?$/.test(below)) {
    return answer(deps, 400, messagePage(locale, '400', WORDS[locale].autoInvalid));
  }
  const opened = await deps.portal.hit('checkout', s.customerId, deps.clock(), 3600);
  if (opened > CHECKOUT_SESSIONS_PER_HOUR) return message(deps, 429, locale, 'tooMany');
  const origin = ownOrigins(req, deps)[0] ?? '';
  const session = await deps.checkout.createSetup({
    customerId: s.customerId,
    packageId,
    successUrl: `${origin}${PAGE}`,
    cancelUrl: `${origin}${PAGE}?m=canceled`,
    autoTopup: { belowGb: below },
    ...(stripeCustomer ? { stripeCustomer } : {}),
  });
  return redirect(deps, session.url);
}

async function buy(
  deps: PortalDeps,
  req: PortalRequest,
  form: URLSearchParams,
  s: Session,
  locale: PortalLocale,
): Promise<PortalAnswer> {
  const packageId = form.get('package') ?? '';
  const { catalog } = deps.config.payments;
  if (!deps.checkout || !Object.hasOwn(catalog, packageId)) {
    return message(deps, 404, locale, 'notFound');
  }
  const origin = ownOrigins(req, deps)[0] ?? '';
  const auto = form.get('auto') === 'on';
  const below = form.get('belowGb') ?? '';
  if (auto && !/^\d{1,6}(\.\d{1,2})?$/.test(below)) {
    return answer(deps, 400, messagePage(locale, '400', WORDS[locale].error));
  }
  const [opened, onFile] = await Promise.all([
    deps.portal.hit('checkout', s.customerId, deps.clock(), 3600),
    deps.autoTopup.get(s.customerId),
  ]);
  if (opened > CHECKOUT_SESSIONS_PER_HOUR) return message(deps, 429, locale, 'tooMany');
  const session = await deps.checkout.create({
    customerId: s.customerId,
    ...(onFile?.stripeCustomer ? { stripeCustomer: onFile.stripeCustomer } : {}),
    packageId,
    successUrl: `${origin}${PAGE}?m=paid`,
    cancelUrl: `${origin}${PAGE}?m=canceled`,
    ...(auto ? { autoTopup: { belowGb: below } } : {}),
  });
  return redirect(deps, session.url);
}

/**
 * A new address for the customer's notices: kept pending (the current one stays in use) and
 * sent a signed link; it takes effect only once confirmed (`confirm`).
 */
async function changeEmail(
  deps: PortalDeps,
  req: PortalRequest,
  form: URLSearchParams,
  s: Session,
  keys: PortalKeys,
  locale: PortalLocale,
): Promise<PortalAnswer> {
  if (!deps.confirmations) return message(deps, 404, locale, 'notFound');
  const now = deps.clock();
  let email: string;
  try {
    email = await deps.contacts.requestEmail(s.customerId, form.get('email') ?? '', now);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return answer(deps, 400, messagePage(locale, '400', WORDS[locale].emailInvalid));
  }
  const token = signConfirmToken(keys.signing, s.customerId, email, now);
  const base = deps.config.portal.baseUrl ?? ownOrigins(req, deps)[0] ?? '';
  const status = await deps.confirmations.sendEmailConfirmation({
    customerId: s.customerId,
    email,
    link: portalUrl(base, `confirm?token=${encodeURIComponent(token)}`),
    locale,
  });
  if (!ON_ITS_WAY.includes(status)) return message(deps, 429, locale, 'tooMany');
  return redirect(deps, `${PAGE}?m=sent`);
}

/**
 * The customer confirms an address from the link sent to it, on their own session: the
 * token proves the address got the link, the session that it is this customer's page.
 */
async function confirm(
  deps: PortalDeps,
  form: URLSearchParams,
  s: Session,
  keys: PortalKeys,
  locale: PortalLocale,
): Promise<PortalAnswer> {
  const w = WORDS[locale];
  try {
    const done = await confirmContact(
      form.get('token') ?? '',
      s.customerId,
      confirmDeps(deps, keys),
      form.get('email') ?? undefined,
    );
    // The address that got the notices until now hears that they go elsewhere from now on.
    if (done.previous && deps.confirmations) {
      await deps.confirmations.sendEmailChanged({
        customerId: s.customerId,
        email: done.previous,
        masked: done.email,
        locale,
      });
    }
    return answer(deps, 200, messagePage(locale, w.confirmTitle, w.confirmDone(done.email)));
  } catch (err) {
    if (!(err instanceof ContactConfirmError)) throw err;
    return refusedConfirm(deps, err, locale);
  }
}

function refusedConfirm(
  deps: PortalDeps,
  err: ContactConfirmError,
  locale: PortalLocale,
): PortalAnswer {
  const w = WORDS[locale];
  const text = {
    invalid: w.confirmRefused,
    superseded: w.confirmRefused,
    expired: w.confirmExpired,
    mismatch: w.confirmMismatch,
  }[err.reason];
  const status = err.reason === 'invalid' ? 403 : err.reason === 'mismatch' ? 400 : 410;
  return answer(deps, status, messagePage(locale, w.confirmTitle, text));
}

function confirmDeps(deps: PortalDeps, keys: PortalKeys) {
  return {
    contacts: deps.contacts,
    secret: async () => keys.verifying.join(' '),
    clock: deps.clock,
  };
}

/**
 * RFC 8058 one-click unsubscribe: the signed token in the address is the authority (a mail
 * provider's POST carries no cookie and no Origin). GET only shows a button, so link
 * scanners that follow every link unsubscribe nobody; POST unsubscribes from reminders.
 */
async function unsubscribe(
  deps: PortalDeps,
  req: PortalRequest,
  keys: PortalKeys,
  locale: PortalLocale,
) {
  const token = req.query.get('token') ?? undefined;
  const tag = req.query.get('a') ?? '';
  const claims = verifyToken(keys, 'unsubscribe', token, deps.clock());
  if (!claims || !token || !/^[\w-]{22}$/.test(tag)) return message(deps, 403, locale, 'forbidden');
  const portal = await deps.portal.get(claims.customerId);
  if (portal.linkVersion !== claims.version) return message(deps, 403, locale, 'forbidden');
  const w = WORDS[locale];
  if (req.method === 'GET') {
    const action = `/portal/unsubscribe?token=${encodeURIComponent(token)}&a=${tag}`;
    return answer(deps, 200, unsubscribePage(locale, action));
  }
  if (req.method !== 'POST') return message(deps, 404, locale, 'notFound');
  // Only the address the link was sent to, if it is still the customer's: a receipt to a
  // payer's own address carries a link that changes nothing (that address gets no reminders).
  const contact = await deps.contacts.get(claims.customerId);
  const bound = contact && (contact.email ?? contact.confirmedEmail);
  if (tagNames(keys, claims.customerId, bound, tag)) {
    await deps.contacts.edit(claims.customerId, { reminders: { email: false } }, deps.clock());
  }
  return answer(deps, 200, messagePage(locale, w.unsubscribeTitle, w.unsubscribed));
}

/**
 * The link in a confirmation email: a page with a button (a GET never confirms, so a link
 * scanner confirms nothing), shown only on the customer's own session, saying which address
 * it binds and where that address came from.
 */
async function confirmShown(
  deps: PortalDeps,
  req: PortalRequest,
  s: Session | 'forbidden' | 'limited',
  keys: PortalKeys,
  locale: PortalLocale,
): Promise<PortalAnswer> {
  const w = WORDS[locale];
  if (s === 'limited') return message(deps, 429, locale, 'tooMany');
  const token = req.query.get('token') ?? '';
  if (s === 'forbidden')
    return answer(deps, 403, messagePage(locale, w.confirmTitle, w.confirmSignIn));
  if (token.length > 200)
    return answer(deps, 403, messagePage(locale, w.confirmTitle, w.confirmRefused));
  try {
    const shown = await describeConfirm(token, s.customerId, confirmDeps(deps, keys));
    return answer(deps, 200, confirmPage(locale, token, csrfToken(keys, s.token), shown));
  } catch (err) {
    if (!(err instanceof ContactConfirmError)) throw err;
    return refusedConfirm(deps, err, locale);
  }
}

async function route(deps: PortalDeps, req: PortalRequest): Promise<PortalAnswer> {
  const locale = localeOf(req);
  const { method, path } = req;
  if (await limited(deps, 'address', req.sourceIp)) return message(deps, 429, locale, 'tooMany');
  if (path === '/portal' || path === '/portal/') return redirect(deps, PAGE);
  const lang = /^\/portal\/lang\/(en|zh-CN)$/.exec(path);
  if (lang && method === 'GET') {
    return redirect(deps, PAGE, [cookie(deps, LANG_COOKIE, lang[1] ?? 'en', 365 * 86_400)]);
  }
  const keys = await deps.keys();
  if (path === '/portal/open' && (method === 'GET' || method === 'POST')) {
    return open(deps, req, keys, locale);
  }
  if (path === '/portal/unsubscribe') return unsubscribe(deps, req, keys, locale);
  const known =
    path === PAGE ||
    [
      '/portal/logout',
      '/portal/zone',
      '/portal/buy',
      '/portal/autotopup',
      '/portal/notices',
      '/portal/email',
      '/portal/confirm',
    ].includes(path);
  if (!known) return message(deps, 404, locale, 'notFound');
  if (method === 'POST' && !sameOrigin(req, deps)) return message(deps, 403, locale, 'forbidden');
  const s = await session(deps, req, keys);
  if (path === '/portal/confirm' && method === 'GET')
    return confirmShown(deps, req, s, keys, locale);
  if (s === 'forbidden') return message(deps, 403, locale, 'forbidden');
  if (s === 'limited') return message(deps, 429, locale, 'tooMany');
  if (path === PAGE && method === 'GET') return view(deps, req, s, keys, locale);
  if (method === 'POST' && path !== PAGE) return post(deps, req, s, keys, locale);
  return answer(deps, 405, messagePage(locale, '405', WORDS[locale].notFound), {
    headers: { allow: ALLOW[path] ?? 'POST' },
  });
}

export function createPortalApp(deps: PortalDeps) {
  return async (req: PortalRequest): Promise<PortalAnswer> => {
    try {
      return await route(deps, req);
    } catch (err) {
      // The error's name and message stay in the log; the customer gets a plain page.
      logger.error('portal request failed', {
        error: err instanceof Error ? `${err.name}: ${err.message}` : 'unknown',
        path: req.path,
      });
      const locale = localeOf(req);
      return answer(deps, 500, messagePage(locale, '500', WORDS[locale].error));
    }
  };
}

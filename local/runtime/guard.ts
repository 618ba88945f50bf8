import type { IncomingMessage } from 'node:http';

function urlOf(value: string | undefined): URL | undefined {
  if (!value) return undefined;
  try {
    return new URL(value.includes('://') ? value : `http://${value}`);
  } catch {
    return undefined;
  }
}

/** `Host` or `Origin`'s host, lower case and without port (IPv6 keeps its brackets). */
export function hostOf(value: string | undefined): string | undefined {
  return urlOf(value)?.hostname.toLowerCase();
}

/** `Host` or `Origin`'s host and port, without scheme (the scheme's port when none is given). */
function authorityOf(value: string | undefined): string | undefined {
  const url = urlOf(value);
  if (!url) return undefined;
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `${url.hostname.toLowerCase()}:${port}`;
}

/** Why a request names a `Host` this server does not answer to (DNS rebinding), if it does. */
export function hostRefusal(
  req: IncomingMessage,
  allowedHosts: ReadonlySet<string>,
): string | undefined {
  const host = hostOf(req.headers.host);
  return host && allowedHosts.has(host) ? undefined : 'host not allowed';
}

/**
 * Why a request is one a browser sent on behalf of another site, if it is: a form post, a
 * `text/plain` fetch or a link needs no CORS preflight. Providers, the CLI and scripts send
 * neither `Origin` nor `Sec-Fetch-Site`.
 */
export function crossSiteRefusal(
  req: IncomingMessage,
  allowedHosts: ReadonlySet<string>,
): string | undefined {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return 'cross-site request refused';
  }
  const origin = req.headers.origin;
  // A page with `Referrer-Policy: no-referrer` (the customer page) posts to itself with
  // Origin null; Sec-Fetch-Site, which no page can set, tells that apart.
  if (origin === 'null' && site === 'same-origin') return undefined;
  if (origin !== undefined) {
    // Host and port: a page on another local port is another site.
    const from = hostOf(origin);
    const same = authorityOf(origin) === authorityOf(req.headers.host);
    if (origin === 'null' || !from || !allowedHosts.has(from) || !same) {
      return 'cross-site request refused';
    }
  }
  return undefined;
}

/** Reads (GET, HEAD, OPTIONS) change nothing, so only the others need crossSiteRefusal. */
export function isSafeMethod(method: string | undefined): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
}

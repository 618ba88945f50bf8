import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { PortalAnswer, PortalRequest } from './app.ts';

/** Form posts to the page are small; anything larger is refused before it is parsed. */
export const MAX_FORM_BYTES = 8 * 1024;

/**
 * `name=value` pairs of the event's cookies; a name given twice maps to undefined (another
 * site or path may have planted one of them), so the page refuses rather than pick one.
 */
function cookiesOf(event: APIGatewayProxyEventV2): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  for (const c of event.cookies ?? []) {
    for (const part of c.split(';')) {
      const cut = part.indexOf('=');
      if (cut <= 0) continue;
      const name = part.slice(0, cut).trim();
      out.set(name, out.has(name) ? undefined : part.slice(cut + 1).trim());
    }
  }
  return out;
}

/** An HTTP API (payload v2) event as the page's request; undefined when the body is too large. */
export function toPortalRequest(event: APIGatewayProxyEventV2): PortalRequest | undefined {
  const raw = event.body ?? '';
  const body = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  if (Buffer.byteLength(body) > MAX_FORM_BYTES) return undefined;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(event.headers ?? {})) {
    if (v !== undefined) headers[k.toLowerCase()] = v;
  }
  return {
    method: event.requestContext.http.method.toUpperCase(),
    path: event.rawPath,
    query: new URLSearchParams(event.rawQueryString ?? ''),
    headers,
    cookies: cookiesOf(event),
    body,
    sourceIp: event.requestContext.http.sourceIp,
  };
}

export function toResult(a: PortalAnswer): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: a.status,
    headers: a.headers,
    ...(a.cookies.length ? { cookies: a.cookies } : {}),
    body: a.body,
  };
}

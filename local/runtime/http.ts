import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { logger } from '../../functions/commons/logger.ts';
import { LOCAL_TOKEN_HEADER } from './env.ts';
import { apiGatewayEvent, httpResult, scheduledEvent } from './events.ts';
import { FUNCTION_NAMES, isFunctionName } from './function-names.ts';
import type { Invoker } from './functions.ts';
import { crossSiteRefusal, hostRefusal, isSafeMethod } from './guard.ts';

/** Bodies above this are refused before any handler runs (API Gateway's own limit). */
const MAX_BODY_BYTES = 10 * 1024 * 1024;

export interface HttpOptions {
  invoker: Invoker;
  /** Facts shown by GET /health (what runs where). */
  health: () => Record<string, unknown>;
  /** The per-run token `/_local/*` requires in `x-flowpilot-token`. */
  localToken: string;
  /** Host names (lower case, no port) requests may name in `Host`; others get 403. */
  allowedHosts: ReadonlySet<string>;
  /** Shown by GET /health to a caller holding the token, so the CLI can verify the runtime. */
  runtime: () => Record<string, unknown>;
  /** The status page at `/`. */
  statusPage?: (
    method: string,
  ) => Promise<{ status: number; headers: Record<string, string>; body: string }>;
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
    ...headers,
  });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(null);
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(size > MAX_BODY_BYTES ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function holdsToken(req: IncomingMessage, token: string): boolean {
  const given = req.headers[LOCAL_TOKEN_HEADER];
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(token, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Why a request is refused before routing, if it is: a `Host` this server does not answer to
 * (DNS rebinding), or a request a browser sent on behalf of another site: any state-changing
 * one, and `GET /webhooks/epay` too, since that GET credits traffic (epay's server sends
 * neither `Origin` nor `Sec-Fetch-Site`; a browser following a link or loading an image does).
 */
function refusal(req: IncomingMessage, path: string, opts: HttpOptions): string | undefined {
  const refused = hostRefusal(req, opts.allowedHosts);
  if (refused) return refused;
  if (isSafeMethod(req.method) && !path.startsWith('/webhooks/')) return undefined;
  return crossSiteRefusal(req, opts.allowedHosts);
}

async function route(req: IncomingMessage, res: ServerResponse, opts: HttpOptions): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const path = url.pathname;
  const method = req.method ?? 'GET';

  const refused = refusal(req, path, opts);
  if (refused) {
    req.resume();
    return send(res, 403, { message: refused });
  }

  if (path === '/' && opts.statusPage) {
    const page = await opts.statusPage(method);
    res.writeHead(page.status, page.headers);
    res.end(method === 'HEAD' ? undefined : page.body);
    return;
  }

  if (path === '/health') {
    if (method !== 'GET')
      return send(res, 405, { message: 'method not allowed' }, { allow: 'GET' });
    const runtime = holdsToken(req, opts.localToken) ? { runtime: opts.runtime() } : {};
    return send(res, 200, { status: 'ok', ...opts.health(), ...runtime });
  }

  if (path.startsWith('/_local/') && !holdsToken(req, opts.localToken)) {
    req.resume();
    return send(res, 401, {
      message: `${LOCAL_TOKEN_HEADER} header missing or wrong (the npm start banner prints it)`,
    });
  }

  const body = await readBody(req);
  if (body === null) return send(res, 413, { message: 'request body too large' });

  const webhook = /^\/webhooks\/([^/]+)$/.exec(path);
  if (webhook) {
    // 彩虹易支付 notifies by GET (query string); every other provider POSTs.
    const getOk = webhook[1] === 'epay';
    if (method !== 'POST' && !(getOk && method === 'GET')) {
      const allow = getOk ? 'GET, POST' : 'POST';
      return send(res, 405, { message: 'method not allowed' }, { allow });
    }
    const event = apiGatewayEvent(
      {
        method,
        path,
        rawQueryString: url.search.slice(1),
        headers: req.headers,
        body,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
      },
      method === 'GET' ? 'GET /webhooks/epay' : 'POST /webhooks/{provider}',
      // A static route has no path parameters in API Gateway either.
      method === 'GET' ? {} : { provider: decodeURIComponent(webhook[1] ?? '') },
    );
    const result = httpResult(await opts.invoker.invoke('payment-webhook', event));
    res.writeHead(result.statusCode, result.headers);
    res.end(result.body);
    return;
  }

  if (path === '/portal' || path.startsWith('/portal/')) {
    if (method !== 'GET' && method !== 'POST') {
      return send(res, 405, { message: 'method not allowed' }, { allow: 'GET, POST' });
    }
    const root = path === '/portal';
    const event = apiGatewayEvent(
      {
        method,
        path,
        rawQueryString: url.search.slice(1),
        headers: req.headers,
        body,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
      },
      root ? 'GET /portal' : `${method} /portal/{proxy+}`,
      root ? {} : { proxy: path.slice('/portal/'.length) },
    );
    const answer = (await opts.invoker.invoke('portal', event)) as { cookies?: string[] } | null;
    const result = httpResult(answer);
    // Payload v2 carries Set-Cookie apart from the headers, as API Gateway sends it.
    res.writeHead(result.statusCode, {
      ...result.headers,
      ...(answer?.cookies?.length ? { 'set-cookie': answer.cookies } : {}),
    });
    res.end(result.body);
    return;
  }

  const invoke = /^\/_local\/invoke\/([^/]+)$/.exec(path);
  if (invoke) {
    if (method !== 'POST')
      return send(res, 405, { message: 'method not allowed' }, { allow: 'POST' });
    const name = decodeURIComponent(invoke[1] ?? '');
    if (!isFunctionName(name)) {
      return send(res, 404, {
        message: `no function named ${name}; functions: ${FUNCTION_NAMES.join(', ')}`,
      });
    }
    let event: unknown = scheduledEvent(name);
    if (body.length > 0) {
      try {
        event = JSON.parse(body.toString('utf8'));
      } catch {
        return send(res, 400, { message: 'the request body must be a JSON event' });
      }
    }
    try {
      const result = await opts.invoker.invoke(name, event);
      const failed = failedHttpStatus(result);
      if (failed) return send(res, failed, { function: name, ok: false, result });
      return send(res, 200, { function: name, ok: true, result: result ?? null });
    } catch (err) {
      logger.error(`${name} failed`, { error: err as Error });
      const error = err as Error;
      return send(res, 500, {
        function: name,
        ok: false,
        error: { name: error.name, message: error.message },
      });
    }
  }

  return send(res, 404, { message: 'not found' });
}

/**
 * Which completed runs count as failed, so callers need not read the body:
 * - an HTTP answer (payment-webhook's) that is not 2xx: its status when it is an error
 *   status, else 502;
 * - a poll whose upstream read failed (`outcome.ok: false`): 502. In AWS the poller returns
 *   rather than throws, so Lambda does not retry and count the same failure again, but the
 *   run did fail to read the upstream.
 */
function failedHttpStatus(result: unknown): number | undefined {
  const r = result as { statusCode?: unknown; outcome?: { ok?: unknown } } | null | undefined;
  if (r?.outcome?.ok === false) return 502;
  const status = r?.statusCode;
  if (typeof status !== 'number' || (status >= 200 && status < 300)) return undefined;
  return status >= 400 && status < 600 ? status : 502;
}

export function createHttpServer(opts: HttpOptions): Server {
  return createServer((req, res) => {
    route(req, res, opts).catch((err: unknown) => {
      logger.error('local request failed', { error: err as Error });
      if (!res.headersSent) send(res, 500, { message: 'internal error' });
      else res.end();
    });
  });
}

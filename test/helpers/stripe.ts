import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { type StripeStandIn, startStripeStandIn } from '../../local/stripe/server.ts';

/** A webhook delivery as the receiving endpoint sees it. */
export interface Delivered {
  headers: Record<string, string>;
  body: Buffer;
}

/** What the endpoint answers. */
export interface Answer {
  statusCode: number;
  headers?: Record<string, string>;
  body?: string;
}

export interface StripeStandInFixture {
  /** The running stand-in (valid inside tests, after beforeAll). */
  readonly standIn: StripeStandIn;
  /** The webhooks it delivered since the test began: signature header and body. */
  readonly received: { signature: string; body: string }[];
}

function read(req: IncomingMessage): Promise<Delivered> {
  return new Promise((done) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      done({ headers, body: Buffer.concat(chunks) });
    });
  });
}

/**
 * One Stripe stand-in per test file (local/stripe/), reset before each test unless `reset` is
 * false (its requests then add up over the file). With `webhook`,
 * it signs its events with `secret` and delivers them when the test says so (`manual` mode) to
 * an endpoint of the test's that records them and answers with `handle` (200 `{}` if none).
 */
export function useStripeStandIn(opts: {
  apiKey: string;
  reset?: boolean;
  webhook?: { secret: string; handle?: (delivery: Delivered) => Promise<Answer> };
}): StripeStandInFixture {
  let standIn: StripeStandIn | undefined;
  const received: { signature: string; body: string }[] = [];
  const hook = createServer(async (req, res) => {
    const delivery = await read(req);
    received.push({
      signature: String(delivery.headers['stripe-signature']),
      body: delivery.body.toString('utf8'),
    });
    const answer = (await opts.webhook?.handle?.(delivery)) ?? { statusCode: 200, body: '{}' };
    res.writeHead(answer.statusCode, answer.headers).end(answer.body);
  });
  beforeAll(async () => {
    const { webhook } = opts;
    if (!webhook) {
      standIn = await startStripeStandIn({ apiKey: opts.apiKey });
      return;
    }
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/webhooks/stripe`;
    standIn = await startStripeStandIn({
      apiKey: opts.apiKey,
      webhook: { url, secret: webhook.secret },
      webhookMode: 'manual',
    });
  });
  beforeEach(() => {
    if (opts.reset !== false) standIn?.reset();
    received.length = 0;
  });
  afterAll(async () => {
    await standIn?.close();
    if (hook.listening) await new Promise<void>((r) => hook.close(() => r()));
  });
  return {
    get standIn() {
      if (!standIn)
        throw new Error('the Stripe stand-in starts in beforeAll; use it inside a test');
      return standIn;
    },
    received,
  };
}

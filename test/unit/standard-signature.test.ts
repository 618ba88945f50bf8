import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { standardSignatureValid } from '../../functions/commons/payments/providers/standard-signature.ts';

/** Signatures are made by the standardwebhooks library; FlowPilot's code only verifies them. */
const key = (text: string) => `whsec_${Buffer.from(text).toString('base64')}`;
const NEW = key('0123456789abcdef0123456789abcdef');
const OLD = key('fedcba9876543210fedcba9876543210');
const body = '{"type":"payment.succeeded","data":{}}';
const now = Date.now();

const headers = (opts: { secret?: string; at?: Date; id?: string; payload?: string } = {}) => {
  const at = opts.at ?? new Date(now);
  const id = opts.id ?? 'msg_1';
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(opts.secret ?? NEW).sign(id, at, opts.payload ?? body),
  };
};
const valid = (h: Record<string, string>, secrets = [NEW], payload = body) =>
  standardSignatureValid(Buffer.from(payload), h, secrets, now);

describe('Standard Webhooks signature (node:crypto against the standardwebhooks library)', () => {
  it('accepts what the library signed, with either key of a rotation', () => {
    expect(valid(headers())).toBe(true);
    expect(valid(headers({ secret: OLD }), [NEW, OLD])).toBe(true);
  });

  it('refuses another key, a tampered body and a changed id', () => {
    expect(valid(headers({ secret: OLD }))).toBe(false);
    expect(valid(headers(), [NEW], body.replace('succeeded', 'refunded'))).toBe(false);
    expect(valid({ ...headers(), 'webhook-id': 'msg_2' })).toBe(false);
  });

  it('takes five minutes either way and no more', () => {
    expect(valid(headers({ at: new Date(now - 299_000) }))).toBe(true);
    expect(valid(headers({ at: new Date(now - 301_000) }))).toBe(false);
    expect(valid(headers({ at: new Date(now + 301_000) }))).toBe(false);
  });

  it('finds the v1 signature among several and ignores other versions', () => {
    const h = headers();
    const sig = h['webhook-signature'].slice(3);
    const other = headers({ secret: OLD })['webhook-signature'];
    expect(valid({ ...h, 'webhook-signature': `${other} v2,${sig} v1,${sig}` })).toBe(true);
    expect(valid({ ...h, 'webhook-signature': `v2,${sig}` })).toBe(false);
  });

  it('refuses missing or malformed headers', () => {
    const h = headers();
    expect(valid({ ...h, 'webhook-id': '' })).toBe(false);
    expect(valid({ ...h, 'webhook-timestamp': 'soon' })).toBe(false);
    expect(valid({ ...h, 'webhook-signature': '' })).toBe(false);
    expect(valid({ ...h, 'webhook-signature': 'v1,' })).toBe(false);
  });
});

import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { stripeFromEnv } from '../../functions/commons/autotopup/opt-in-deps.ts';
import { StripeAccessError } from '../../functions/commons/autotopup/stripe-api.ts';
import { secretKeyRefusal } from '../../functions/commons/clients/stripe.ts';
import {
  allowedHosts,
  devSecretsIn,
  httpUrl,
  LOCAL_DEV_SECRETS,
  readLocalEnv,
} from '../../local/runtime/env.ts';
import { crossSiteRefusal } from '../../local/runtime/guard.ts';

const real = { IPWEB_BASE_URL: 'https://user.ipweb.cc/prod-api', IPWEB_TOKEN: 't' };

describe('Module: local/runtime/env (security)', () => {
  describe('Method: readLocalEnv', () => {
    it('makes a new random token per run unless FLOWPILOT_LOCAL_TOKEN fixes one', () => {
      const a = readLocalEnv({}, '/tmp').localToken;
      const b = readLocalEnv({}, '/tmp').localToken;
      expect(a).toMatch(/^[0-9a-f]{48}$/);
      expect(a).not.toBe(b);
      expect(readLocalEnv({ FLOWPILOT_LOCAL_TOKEN: 'my-own-token-0123' }, '/tmp').localToken).toBe(
        'my-own-token-0123',
      );
    });

    it('refuses a short FLOWPILOT_LOCAL_TOKEN', () => {
      expect(() => readLocalEnv({ FLOWPILOT_LOCAL_TOKEN: 'short' }, '/tmp')).toThrow(
        /FLOWPILOT_LOCAL_TOKEN must be 16-200 printable characters/,
      );
    });

    it('refuses a development secret with the real upstream, even as one of several keys', () => {
      const env = {
        ...real,
        STRIPE_WEBHOOK_SECRET: `whsec_real_one_0123456789 ${LOCAL_DEV_SECRETS.STRIPE_WEBHOOK_SECRET}`,
        EPAY_KEY: LOCAL_DEV_SECRETS.EPAY_KEY,
      };
      expect(devSecretsIn(env)).toEqual(['STRIPE_WEBHOOK_SECRET', 'EPAY_KEY']);
      expect(() => readLocalEnv(env, '/tmp')).toThrow(
        /STRIPE_WEBHOOK_SECRET holds the public local development value[\s\S]*EPAY_KEY holds/,
      );
      // With the simulator they are what a newcomer gets anyway.
      expect(() => readLocalEnv({ EPAY_KEY: LOCAL_DEV_SECRETS.EPAY_KEY }, '/tmp')).not.toThrow();
    });
    it('refuses the development portal key as PORTAL_SECRET_PREVIOUS too, which still verifies links', () => {
      const env = {
        ...real,
        PORTAL_SECRET: 'a-real-portal-secret-0123456789abcdef',
        PORTAL_SECRET_PREVIOUS: `another-real-one-0123456789abcdef ${LOCAL_DEV_SECRETS.PORTAL_SECRET}`,
      };
      expect(devSecretsIn(env)).toEqual(['PORTAL_SECRET_PREVIOUS']);
      expect(() => readLocalEnv(env, '/tmp')).toThrow(
        /PORTAL_SECRET_PREVIOUS holds the public local development value/,
      );
      expect(devSecretsIn({ ...env, PORTAL_SECRET_PREVIOUS: 'x'.repeat(40) })).toEqual([]);
    });
  });

  describe('Method: allowedHosts', () => {
    it('answers to the loopback names and the HOST it listens on', () => {
      expect([...allowedHosts('127.0.0.1')].sort()).toEqual(['127.0.0.1', '[::1]', 'localhost']);
      expect(allowedHosts('flowpilot.lan').has('flowpilot.lan')).toBe(true);
      expect(allowedHosts('::1').has('[::1]')).toBe(true);
      expect(allowedHosts('127.0.0.1').has('rebind.example')).toBe(false);
    });

    it("adds this machine's own addresses for a wildcard HOST, never any name", () => {
      const hosts = allowedHosts('0.0.0.0');
      expect(hosts.has('127.0.0.1')).toBe(true);
      expect(hosts.size).toBeGreaterThan(3);
      expect(hosts.has('rebind.example')).toBe(false);
    });
  });
});

describe('Module: local/runtime/guard', () => {
  describe('Method: crossSiteRefusal', () => {
    const request = (headers: Record<string, string>) =>
      ({ headers }) as unknown as IncomingMessage;
    const hosts = allowedHosts('127.0.0.1');

    it('counts a page on another local port as another site', () => {
      const from = (origin: string) =>
        crossSiteRefusal(request({ host: '127.0.0.1:3000', origin }), hosts);
      expect(from('http://127.0.0.1:3000')).toBeUndefined();
      expect(from('http://127.0.0.1:8080')).toBe('cross-site request refused');
      expect(from('http://localhost:3000')).toBe('cross-site request refused');
      expect(from('http://127.0.0.1')).toBe('cross-site request refused');
      expect(
        crossSiteRefusal(request({ host: '127.0.0.1', origin: 'http://127.0.0.1:80' }), hosts),
      ).toBeUndefined();
    });

    it('takes Origin null only when the browser says same-origin (a no-referrer page posting to itself)', () => {
      const from = (site?: string) =>
        crossSiteRefusal(
          request({
            host: '127.0.0.1:3000',
            origin: 'null',
            ...(site ? { 'sec-fetch-site': site } : {}),
          }),
          hosts,
        );
      expect(from('same-origin')).toBeUndefined();
      expect(from('cross-site')).toBe('cross-site request refused');
      expect(from('none')).toBe('cross-site request refused');
      expect(from()).toBe('cross-site request refused');
    });
  });
});

describe('Module: local/runtime/env (URLs)', () => {
  describe('Method: httpUrl', () => {
    it('puts an IPv6 address in brackets, so runtime.json holds a URL', () => {
      expect(httpUrl('::1', 3000)).toBe('http://[::1]:3000');
      expect(httpUrl('[::1]', 3000)).toBe('http://[::1]:3000');
      expect(httpUrl('127.0.0.1', 3000)).toBe('http://127.0.0.1:3000');
      expect(() => new URL(httpUrl('::', 3000))).not.toThrow();
    });
  });
});

describe('Module: functions/commons/clients/stripe (key kinds)', () => {
  describe('Method: secretKeyRefusal', () => {
    it('refuses a full live secret key, naming the variable and never the value', () => {
      const key = 'sk_live_0123456789abcdef';
      const refusal = secretKeyRefusal('STRIPE_API_KEY', key, false);
      expect(refusal).toMatch(/^STRIPE_API_KEY is a full secret key/);
      expect(refusal).toContain('payments.stripe.allowSecretKey');
      expect(refusal).not.toContain(key);
    });

    it('takes restricted keys and test keys, and a live secret key when config allows it', () => {
      expect(secretKeyRefusal('STRIPE_READ_KEY', 'rk_live_0123', false)).toBeUndefined();
      expect(secretKeyRefusal('STRIPE_API_KEY', 'sk_test_0123', false)).toBeUndefined();
      expect(secretKeyRefusal('STRIPE_API_KEY', 'sk_live_0123', true)).toBeUndefined();
    });
  });

  describe('Method: stripeFromEnv (as deployed functions read their key)', () => {
    it('refuses a full live secret key as an access error, so auto top-up alerts instead of charging', async () => {
      process.env.STRIPE_READ_KEY = 'sk_live_0123456789abcdef';
      try {
        const refused = stripeFromEnv('STRIPE_READ_KEY');
        await expect(refused).rejects.toBeInstanceOf(StripeAccessError);
        await expect(refused).rejects.toThrow(/STRIPE_READ_KEY is a full secret key/);
      } finally {
        delete process.env.STRIPE_READ_KEY;
      }
    });
  });
});

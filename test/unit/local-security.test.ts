import { describe, expect, it } from 'vitest';
import {
  allowedHosts,
  devSecretsIn,
  LOCAL_DEV_SECRETS,
  readLocalEnv,
} from '../../local/runtime/env.ts';

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

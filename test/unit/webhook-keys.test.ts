import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { paymentsSchema } from '../../functions/commons/config/payments.ts';
import { logger } from '../../functions/commons/logger.ts';
import { metricsOutput } from '../../functions/commons/observability.ts';
import { checkedKeys, keyProblem, splitSecrets } from '../../functions/commons/payments/keys.ts';
import type { PaymentDeps } from '../../functions/commons/payments/types.ts';
import { handleWebhook } from '../../functions/commons/payments/webhook.ts';
import type { SecretName } from '../../functions/commons/secrets.ts';

const b64 = (bytes: number) => Buffer.alloc(bytes, 7).toString('base64');

function depsWith(providers: string[], secret: string | undefined) {
  const asked: SecretName[] = [];
  const deps = {
    config: paymentsSchema.parse({ providers }),
    getSecret: async (name: SecretName) => {
      asked.push(name);
      return secret;
    },
  } as unknown as PaymentDeps;
  return { deps, asked };
}

const form = { headers: { 'content-type': 'application/x-www-form-urlencoded' }, rawQuery: '' };

describe('Module: payments/keys', () => {
  describe('Method: keyProblem', () => {
    it('accepts keys in each provider format', () => {
      expect(keyProblem('stripe', ['whsec_abcdefghijklmnopqrstuvwxyz012345'])).toBeUndefined();
      expect(keyProblem('standard', [`whsec_${b64(24)}`, `whsec_${b64(64)}`])).toBeUndefined();
      expect(keyProblem('epay', ['0123456789abcdef'])).toBeUndefined();
    });

    it('refuses short, unprefixed or malformed keys, naming which one and never quoting it', () => {
      expect(keyProblem('stripe', [])).toBe('no key is set');
      expect(keyProblem('stripe', ['whsec_short'])).toMatch(/^key 1 of 1 is unusable/);
      expect(keyProblem('stripe', ['whsec_abcdefghijklmnop', 'abcdefghijklmnopqrstuvwx'])).toMatch(
        /^key 2 of 2 is unusable: Stripe/,
      );
      expect(keyProblem('standard', [`whsec_${b64(16)}`])).toMatch(/24 to 64 bytes/);
      expect(keyProblem('standard', ['whsec_not*base64!!'])).toMatch(/unusable/);
      expect(keyProblem('epay', ['k'])).toMatch(/at least 16 characters/);
      expect(keyProblem('epay', ['fifteen-chars15'])).not.toContain('fifteen');
    });

    it('keeps a generated placeholder with commas in one piece, and that piece is no usable key', () => {
      // What Secrets Manager generated before placeholders lost their punctuation.
      const placeholder = 'a,Zk!q,3;x#Lm`p,Q^e&R(2)w,9s~T"y';
      const keys = splitSecrets(placeholder);
      expect(keys).toEqual([placeholder]);
      expect(keyProblem('stripe', keys)).toBeDefined();
      expect(keyProblem('standard', keys)).toBeDefined();
    });
  });

  describe('Method: checkedKeys', () => {
    it('answers for the value it is given, never for the last one, as a secret is rotated and broken', () => {
      // Prepare
      const good = 'whsec_abcdefghijklmnopqrstuvwxyz012345';
      const next = 'whsec_ZYXWVUTSRQPONMLKJIHGFEDCBA987654';

      // Act: the same value twice, a rotation, a broken value, then the good one again.
      const first = checkedKeys('stripe', good);
      const again = checkedKeys('stripe', good);
      const rotating = checkedKeys('stripe', `${good}\n${next}`);
      const broken = checkedKeys('stripe', 'whsec_short');
      const unset = checkedKeys('stripe', undefined);
      const back = checkedKeys('stripe', good);
      // Another provider's rules for the very same value.
      const asEpay = checkedKeys('epay', 'whsec_short');

      // Assess
      expect(first).toEqual({ keys: [good], problem: undefined });
      expect(again.keys).toEqual([good]);
      expect(rotating).toEqual({ keys: [good, next], problem: undefined });
      expect(broken.keys).toEqual(['whsec_short']);
      expect(broken.problem).toMatch(/^key 1 of 1 is unusable/);
      expect(unset).toEqual({ keys: [], problem: 'no key is set' });
      expect(back).toEqual({ keys: [good], problem: undefined });
      expect(asEpay.problem).toMatch(/at least 16 characters/);
      // Shared between deliveries, so nobody may change them.
      expect(Object.isFrozen(back.keys)).toBe(true);
    });
  });
});

describe('Method: handleWebhook (provider enablement)', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('answers 404 for a provider the configuration does not enable, reading no secret', async () => {
    // Prepare
    const { deps, asked } = depsWith(['stripe'], 'a-valid-looking-epay-key-0123456');

    // Act
    const res = await handleWebhook('epay', { ...form, body: Buffer.from('a=1') }, deps);

    // Assess
    expect(res.statusCode).toBe(404);
    expect(asked).toEqual([]);
  });

  it('disables a provider whose key is too short: 404, one log line for many deliveries, a metric each', async () => {
    // Prepare
    const { deps, asked } = depsWith(['epay'], 'k');
    const error = vi.spyOn(logger, 'error');
    const metric = vi.spyOn(metricsOutput, 'write').mockImplementation(() => {});
    // Metrics are switched off for tests (vitest.config.ts); this one counts them.
    const was = metricsOutput.enabled;
    metricsOutput.enabled = true;
    onTestFinished(() => {
      metricsOutput.enabled = was;
    });

    // Act
    const answers = [];
    for (let i = 0; i < 3; i++) {
      answers.push(await handleWebhook('epay', { ...form, body: Buffer.from('a=1') }, deps));
    }

    // Assess
    expect(answers.map((a) => a.statusCode)).toEqual([404, 404, 404]);
    expect(asked).toEqual(['EPAY_KEY', 'EPAY_KEY', 'EPAY_KEY']);
    expect(error).toHaveBeenCalledTimes(1);
    expect(error.mock.calls[0]?.[0]).toBe(
      'webhook provider disabled: its secret holds no usable key',
    );
    expect(JSON.stringify(error.mock.calls[0])).not.toContain('"k"');
    expect(metric.mock.calls.map(([line]) => JSON.parse(line) as Record<string, unknown>)).toEqual(
      Array(3).fill(expect.objectContaining({ Provider: 'epay', WebhookProviderDisabled: 1 })),
    );
  });
});

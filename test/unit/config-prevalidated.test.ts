import { describe, expect, it } from 'vitest';
import { CONFIG_JSON_ENV, parseConfig } from '../../functions/commons/config/load.ts';
import {
  CONFIG_CHECK_ENV,
  readPrevalidatedConfig,
} from '../../functions/commons/config/prevalidated.ts';
import { ConfigError } from '../../functions/commons/errors.ts';
import { configEnvironment, configSchemaFingerprint } from '../../infra/config-env.ts';

const validated = () =>
  parseConfig({
    polling: { retentionDays: 30 },
    payments: { catalog: { gb10: { gb: '10.5', price: 1000, currency: 'usd' } } },
  });

describe('Module: config/prevalidated', () => {
  describe('Function: readPrevalidatedConfig', () => {
    it('gives back what synth validated, without parsing it again', () => {
      // Prepare
      const config = validated();
      const env = configEnvironment(config);
      // Act
      const read = readPrevalidatedConfig(env, configSchemaFingerprint());
      // Assess
      expect(read).toEqual(config);
      expect(read.payments.catalog.gb10?.gb).toBe('10.5');
    });

    it('refuses configuration edited after synth', () => {
      const env = configEnvironment(validated());
      const edited = {
        ...env,
        [CONFIG_JSON_ENV]: env[CONFIG_JSON_ENV]?.replace('"retentionDays":30', '"retentionDays":3'),
      };
      expect(edited[CONFIG_JSON_ENV]).not.toBe(env[CONFIG_JSON_ENV]);
      expect(() => readPrevalidatedConfig(edited, configSchemaFingerprint())).toThrow(
        /changed after it was validated/,
      );
    });

    it('refuses configuration validated against another schema than the bundle was built with', () => {
      const env = configEnvironment(validated());
      expect(() => readPrevalidatedConfig(env, '0123456789abcdef')).toThrow(
        /validated against schema [0-9a-f]{16}, this code has 0123456789abcdef/,
      );
    });

    it('names what is missing', () => {
      const env = configEnvironment(validated());
      const fp = configSchemaFingerprint();
      expect(() => readPrevalidatedConfig({ ...env, [CONFIG_CHECK_ENV]: '' }, fp)).toThrow(
        `${CONFIG_CHECK_ENV} environment variable is not set`,
      );
      expect(() => readPrevalidatedConfig({ ...env, [CONFIG_CHECK_ENV]: '{}' }, fp)).toThrow(
        ConfigError,
      );
      expect(() => readPrevalidatedConfig({ ...env, [CONFIG_JSON_ENV]: '' }, fp)).toThrow(
        `${CONFIG_JSON_ENV} environment variable is not set`,
      );
      // Run from source, nothing was built in.
      expect(() => readPrevalidatedConfig(env)).toThrow(/no configuration schema fingerprint/);
    });
  });
});

describe('Module: infra/config-env', () => {
  it('changes the schema fingerprint with the schema, not with the configuration', () => {
    expect(configSchemaFingerprint()).toMatch(/^[0-9a-f]{16}$/);
    const a = JSON.parse(configEnvironment(validated())[CONFIG_CHECK_ENV] ?? '{}');
    const b = JSON.parse(configEnvironment(parseConfig({}))[CONFIG_CHECK_ENV] ?? '{}');
    expect(a.schema).toBe(b.schema);
    expect(a.digest).not.toBe(b.digest);
  });

  it('stops synth on a value that would not survive JSON', () => {
    const config = { ...validated(), polling: { ...validated().polling, since: new Date(0) } };
    expect(() => configEnvironment(config as never)).toThrow(
      /polling\.since: a Date cannot reach the functions as JSON/,
    );
  });
});

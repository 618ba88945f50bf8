import { afterEach, describe, expect, it } from 'vitest';
import { defaultProvider } from '../../functions/commons/clients/lambda-credentials.ts';

/** The credential provider the Lambda bundles use in place of the SDK's default chain. */
const KEYS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'] as const;
const saved = Object.fromEntries(KEYS.map((k) => [k, process.env[k]]));

afterEach(() => {
  for (const k of KEYS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

describe('Function: defaultProvider (Lambda bundles)', () => {
  it("reads the role's credentials Lambda puts in the environment", async () => {
    // Prepare
    process.env.AWS_ACCESS_KEY_ID = 'ASIAEXAMPLE';
    process.env.AWS_SECRET_ACCESS_KEY = 'secret';
    process.env.AWS_SESSION_TOKEN = 'session';

    // Act
    const credentials = await defaultProvider({}, process.env)();

    // Assess
    expect(credentials).toMatchObject({
      accessKeyId: 'ASIAEXAMPLE',
      secretAccessKey: 'secret',
      sessionToken: 'session',
    });
  });

  it('says why when the environment serves credentials from an endpoint instead', async () => {
    // Prepare
    for (const k of KEYS) delete process.env[k];
    const env = { AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://127.0.0.1:9/creds' };

    // Act
    const error = await defaultProvider({}, env)().catch((e: unknown) => e);

    // Assess
    expect(String(error)).toMatch(/read AWS credentials from the environment only/);
  });

  it('fails with the SDK message when there are no credentials at all', async () => {
    // Prepare
    for (const k of KEYS) delete process.env[k];

    // Act
    const error = await defaultProvider({}, {})().catch((e: unknown) => e);

    // Assess
    expect(String(error)).toMatch(/environment variable credentials/);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamAuthError } from '../../functions/commons/upstream/errors.ts';
import { upstreamFromEnv } from '../../functions/commons/upstream/wiring.ts';
import { useSimulator } from '../helpers/simulator.ts';

/**
 * The upstream client as the functions build it: kept while warm, rebuilt when the token
 * changes (a rotation takes effect without a cold start).
 */
const fixture = useSimulator();
const saved = { token: process.env.IPWEB_TOKEN, config: process.env.FLOWPILOT_CONFIG_JSON };

afterEach(() => {
  for (const [name, value] of [
    ['IPWEB_TOKEN', saved.token],
    ['FLOWPILOT_CONFIG_JSON', saved.config],
  ] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe('Function: upstreamFromEnv', () => {
  it('reuses the client for the same token and builds a new one after a rotation', async () => {
    // Prepare: the configuration is read once per process, as in a Lambda container.
    process.env.FLOWPILOT_CONFIG_JSON = JSON.stringify({
      upstream: {
        baseUrl: fixture.sim.url,
        allowInsecureHttp: true,
        retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
      },
    });
    process.env.IPWEB_TOKEN = fixture.sim.token;

    // Act
    const first = await upstreamFromEnv();
    const again = await upstreamFromEnv();
    const totals = await again.getFlowTotalFull();
    process.env.IPWEB_TOKEN = 'rotated-to-a-token-the-upstream-rejects';
    const rotated = await upstreamFromEnv();
    const refused = await rotated.getFlowTotalFull().catch((e: unknown) => e);

    // Assess
    expect(again).toBe(first);
    expect(totals).toBeDefined();
    expect(rotated).not.toBe(first);
    expect(refused).toBeInstanceOf(UpstreamAuthError);
  });
});

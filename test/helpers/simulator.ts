import { afterAll, afterEach, beforeAll } from 'vitest';
import {
  createDynamicTrafficClient,
  type DynamicTrafficClientOptions,
} from '../../functions/commons/upstream/client.ts';
import type { DynamicTrafficApi } from '../../functions/commons/upstream/types.ts';
import {
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from '../../local/simulator/index.ts';

/** A primary pool with room for every credit a test makes, and these customers in the channel. */
export function fundedPool(sim: Simulator, ...customerIds: string[]): void {
  sim.setPool('primary', { rechargedMb: 1e9, consumedMb: 0, residualMb: 1e9 });
  for (const customerId of customerIds) sim.addCustomer({ customerId });
}

export interface SimulatorFixture {
  /** The running simulator (valid inside tests, after beforeAll). */
  readonly sim: Simulator;
  /** A client pointed at it with quick, jitter-free retries; override any option. */
  client(overrides?: Partial<DynamicTrafficClientOptions>): DynamicTrafficApi;
}

/**
 * One simulator per test file: started in beforeAll, emptied after each test (faults, calls
 * and state; pass `seedData` to refill), closed in afterAll.
 */
export function useSimulator(opts: SimulatorOptions = {}): SimulatorFixture {
  let sim: Simulator | undefined;
  beforeAll(async () => {
    sim = await startSimulator({ ...opts, options: { numberStyle: 'number', ...opts.options } });
  });
  afterEach(() => {
    sim?.reset({ seedData: opts.seedData ?? false });
  });
  afterAll(async () => {
    await sim?.close();
  });
  const fixture: SimulatorFixture = {
    get sim() {
      if (!sim) throw new Error('the simulator starts in beforeAll; use it inside a test');
      return sim;
    },
    client(overrides = {}) {
      return createDynamicTrafficClient({
        baseUrl: fixture.sim.url,
        token: fixture.sim.token,
        timeoutMs: 2_000,
        retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
        random: () => 0.5,
        ...overrides,
      });
    },
  };
  return fixture;
}

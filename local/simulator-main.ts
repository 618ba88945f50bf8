import { startSimulator } from './simulator/index.ts';

/**
 * The Dynamic Traffic simulator on its own: `npm run simulator` (PORT or SIM_PORT, default
 * 4010; SIM_TOKEN, SIM_SEED). Point FlowPilot at it with IPWEB_BASE_URL and IPWEB_TOKEN.
 */
const port = Number(process.env.SIM_PORT ?? process.env.PORT ?? 4010);
const sim = await startSimulator({
  port,
  host: process.env.SIM_HOST ?? '127.0.0.1',
  token: process.env.SIM_TOKEN ?? 'simulator-token',
  seed: Number(process.env.SIM_SEED ?? 1),
  seedData: true,
});

console.log(`Dynamic Traffic simulator listening
  IPWEB_BASE_URL=${sim.url}
  IPWEB_TOKEN=${sim.token}
  control API: ${sim.origin}/_sim/state`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    sim.close().then(() => process.exit(0));
  });
}

import { App } from 'aws-cdk-lib';
import { loadInfraConfig } from './config.ts';
import { addPolicyChecks } from './policy-checks.ts';
import { FlowPilotStack } from './stack.ts';

export const STACK_NAME = 'FlowPilot';

export interface BuildAppOptions {
  /** @default a new App (which reads the CLI's context and output directory) */
  readonly app?: App;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/**
 * The CDK app as `cdk synth` builds it: configuration loaded and validated first (a wrong key
 * throws a ConfigError naming it), then the stack, with the policy checks of infra/policy-checks.ts.
 */
export function buildApp(options: BuildAppOptions = {}): {
  app: App;
  stack: FlowPilotStack;
  configSource: string;
} {
  const app = options.app ?? new App();
  const { config, source } = loadInfraConfig(app.node, options.env, options.cwd);
  const stack = new FlowPilotStack(app, STACK_NAME, {
    description: 'FlowPilot: Dynamic Traffic reseller back office (pollers, alerts, top-ups)',
    config,
  });
  addPolicyChecks(app);
  return { app, stack, configSource: source };
}

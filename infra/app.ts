import { ConfigError } from '../functions/commons/errors.ts';
import { buildApp } from './main.ts';

// The CDK entry (cdk.json "app"). A configuration error is printed as its message, which
// names each wrong key, rather than as a stack trace.
try {
  const { app, configSource } = buildApp();
  console.error(`FlowPilot configuration: ${configSource}`);
  app.synth();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exitCode = 1;
}

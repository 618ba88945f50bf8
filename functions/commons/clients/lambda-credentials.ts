import { fromEnv } from '@aws-sdk/credential-provider-env';

/**
 * Stands in for `@aws-sdk/credential-provider-node` in the Lambda bundles (esbuild `alias`,
 * infra/bundling.ts). Lambda hands a nodejs22.x function its role's credentials in
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, the first link of the SDK's
 * default chain; the rest of the chain (SSO, profiles, IMDS, container endpoint, STS web
 * identity) is ~100 KB a Lambda does not reach. Local runs (CLI, npm start, tests) keep the
 * full chain.
 */
export const defaultProvider = (
  init: Parameters<typeof fromEnv>[0] = {},
  env: NodeJS.ProcessEnv = process.env,
) => {
  const fromEnvironment = fromEnv(init);
  return async () => {
    if (!env.AWS_ACCESS_KEY_ID && env.AWS_CONTAINER_CREDENTIALS_FULL_URI) {
      // An environment that serves credentials from an endpoint (as SnapStart does) would
      // otherwise fail with only "Unable to find environment variable credentials".
      throw new Error(
        'FlowPilot Lambda bundles read AWS credentials from the environment only; this environment serves them from AWS_CONTAINER_CREDENTIALS_FULL_URI (see README "Lambda bundles")',
      );
    }
    return fromEnvironment();
  };
};

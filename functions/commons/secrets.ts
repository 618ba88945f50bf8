import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError } from './errors.ts';

/**
 * Secrets by name (`IPWEB_TOKEN`, `STRIPE_WEBHOOK_SECRET`, `STANDARD_WEBHOOK_SECRET`,
 * `EPAY_KEY`, and the Stripe keys `STRIPE_API_KEY` for charges, `STRIPE_READ_KEY` for the
 * webhook's reads and `STRIPE_CHECKOUT_KEY` for the customer page's Checkout Sessions, `PORTAL_SECRET`). In AWS the stack sets `<NAME>_SECRET_ARN` and the value comes from Secrets
 * Manager, cached for a few minutes so rotation takes effect without a cold start; locally
 * the value is the environment variable itself. Values are never logged.
 */
export type SecretName =
  | 'IPWEB_TOKEN'
  | 'STRIPE_WEBHOOK_SECRET'
  | 'STANDARD_WEBHOOK_SECRET'
  | 'EPAY_KEY'
  | 'STRIPE_API_KEY'
  | 'STRIPE_READ_KEY'
  | 'STRIPE_CHECKOUT_KEY'
  | 'PORTAL_SECRET';

const TTL_MS = 5 * 60_000;
let client: SecretsManagerClient | undefined;
const cache = new Map<string, { value: string; until: number }>();

export async function getSecret(
  name: SecretName,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  const arn = env[`${name}_SECRET_ARN`];
  if (!arn) {
    const value = env[name];
    return value === undefined || value === '' ? undefined : value;
  }
  const hit = cache.get(arn);
  if (hit && hit.until > Date.now()) return hit.value;
  client ??= new SecretsManagerClient({});
  let value: string | undefined;
  try {
    value = (await client.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString;
  } catch (cause) {
    throw new ConfigError(`cannot read secret ${name} from Secrets Manager`, [], { cause });
  }
  if (value === undefined || value === '') return undefined;
  cache.set(arn, { value, until: Date.now() + TTL_MS });
  return value;
}

export async function requireSecret(
  name: SecretName,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const value = await getSecret(name, env);
  if (value === undefined) throw new ConfigError(`secret ${name} is not set`);
  return value;
}

import { Stack, Validations } from 'aws-cdk-lib';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { SecretName } from '../../functions/commons/secrets.ts';

export const SECRET_NAMES: readonly SecretName[] = [
  'IPWEB_TOKEN',
  'STRIPE_WEBHOOK_SECRET',
  'STANDARD_WEBHOOK_SECRET',
  'EPAY_KEY',
  'STRIPE_API_KEY',
  'STRIPE_READ_KEY',
  'STRIPE_CHECKOUT_KEY',
  'PORTAL_SECRET',
];

const DESCRIPTIONS: Record<SecretName, string> = {
  IPWEB_TOKEN: 'Dynamic Traffic agent API token (upstream)',
  STRIPE_WEBHOOK_SECRET: 'Stripe webhook signing secret (whsec_...)',
  STANDARD_WEBHOOK_SECRET: 'Standard Webhooks signing secret (whsec_...)',
  EPAY_KEY: 'EPay merchant key used to verify its notifications',
  STRIPE_API_KEY:
    'Stripe restricted key (rk_...) with PaymentIntents write, for the auto top-up charges of customer-actions',
  STRIPE_READ_KEY:
    'Stripe restricted key (rk_...) with Checkout Sessions, PaymentIntents and PaymentMethods read, for payment-webhook',
  STRIPE_CHECKOUT_KEY:
    "Stripe restricted key (rk_...) with Checkout Sessions write, for the customer page's Buy",
  PORTAL_SECRET:
    "Key of the customer page's signed links (32+ characters; 'new old' while rotating)",
};

/**
 * Placeholders are long and without punctuation: a rotated webhook secret is split on
 * whitespace into keys, and none may be short enough to guess; none of them passes a
 * provider's key format either, so a provider stays disabled until its real secret is put.
 */
export const PLACEHOLDER_LENGTH = 64;

/**
 * The secrets functions read through functions/commons/secrets.ts, named
 * `<stack>/<NAME>` so the deploy guide can tell operators what to set. CloudFormation
 * creates each with a random placeholder value: until an operator puts the real one, the
 * upstream rejects the token and webhook signatures fail, so nothing runs on a made-up secret.
 */
export class Secrets extends Construct {
  readonly byName: Record<SecretName, Secret>;
  /** `<stack>/<NAME>`, what `aws secretsmanager put-secret-value --secret-id` takes. */
  readonly secretNames: Record<SecretName, string>;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const stackName = Stack.of(this).stackName;
    this.secretNames = Object.fromEntries(
      SECRET_NAMES.map((name) => [name, `${stackName}/${name}`]),
    ) as Record<SecretName, string>;
    const entries = SECRET_NAMES.map((name) => {
      const secret = new Secret(this, name, {
        secretName: this.secretNames[name],
        description: `${DESCRIPTIONS[name]}. Placeholder until set with put-secret-value.`,
        generateSecretString: {
          passwordLength: PLACEHOLDER_LENGTH,
          excludePunctuation: true,
          includeSpace: false,
        },
      });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          name === 'PORTAL_SECRET'
            ? "Rotated by the operator as 'new old' (both verify) until the old key's links and sessions expire; a rotation Lambda would cut customers' links short."
            : 'Issued by a third party (upstream or payment provider); it is rotated there and then put here, a Lambda cannot rotate it.',
      });
      return [name, secret] as const;
    });
    this.byName = Object.fromEntries(entries) as Record<SecretName, Secret>;
  }
}

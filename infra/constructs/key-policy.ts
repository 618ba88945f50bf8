import * as iam from 'aws-cdk-lib/aws-iam';
import type { Key } from 'aws-cdk-lib/aws-kms';

/**
 * Grants on the key only for AWS services acting for an AWS resource (AWS Control Tower
 * CT.KMS.PR.3): nobody can hand the key's use to an arbitrary principal through a grant.
 */
export function denyGrantsExceptForAwsServices(key: Key): void {
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CreateGrantOnlyForAwsServices',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['kms:CreateGrant'],
      resources: ['*'],
      conditions: {
        BoolIfExists: {
          'kms:GrantIsForAWSResource': 'false',
          'aws:PrincipalIsAWSService': 'false',
        },
      },
    }),
  );
}

import { type IAspect, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { CfnLogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct, type IConstruct } from 'constructs';
import type { LogsConfig } from '../../functions/commons/config/logs.ts';
import { denyGrantsExceptForAwsServices } from './key-policy.ts';

export interface LogEncryptionProps {
  readonly logs: LogsConfig;
}

/**
 * One customer managed key (rotated yearly) for every log group of the stack, and the
 * configured retention (`logs.retentionDays`). Applied as an aspect so that a log group added
 * later cannot be left out: logs hold order ids and customer ids.
 */
export class LogEncryption extends Construct implements IAspect {
  readonly key: Key;
  readonly retentionDays: number;

  constructor(scope: Construct, id: string, props: LogEncryptionProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.retentionDays = props.logs.retentionDays;
    this.key = new Key(this, 'Key', {
      description: 'Encrypts the FlowPilot CloudWatch log groups',
      enableKeyRotation: true,
    });
    // As CloudWatch Logs documents it: the service, only for log groups of this account and
    // region (the log group ARN is the encryption context of every request it makes).
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogsUseForThisAccountsLogGroups',
        principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
        actions: [
          'kms:Encrypt*',
          'kms:Decrypt*',
          'kms:ReEncrypt*',
          'kms:GenerateDataKey*',
          'kms:Describe*',
        ],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': `arn:${stack.partition}:logs:${stack.region}:${stack.account}:log-group:*`,
          },
        },
      }),
    );
    denyGrantsExceptForAwsServices(this.key);
  }

  visit(node: IConstruct): void {
    if (!(node instanceof CfnLogGroup)) return;
    node.kmsKeyId = this.key.keyArn;
    node.retentionInDays = this.retentionDays;
  }
}

import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { SubscriptionFilter, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription, SmsSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { NotificationsConfig } from '../../functions/commons/config/notifications.ts';
import { denyGrantsExceptForAwsServices } from './key-policy.ts';

/** Message attribute the notifier sets on every alert; SMS only carries `critical` ones. */
export const SEVERITY_ATTRIBUTE = 'severity';
export const SMS_SEVERITIES = ['critical'];

export interface NotificationsProps {
  readonly notifications: NotificationsConfig;
}

/**
 * Two topics under one customer managed key (rotated yearly): `alerts` for what the
 * functions tell people (low traffic, stale data, failed top-ups) and `ops` for CloudWatch
 * alarms about FlowPilot itself. A customer managed key because CloudWatch alarms can only
 * publish to an encrypted topic whose key policy lets CloudWatch use it.
 */
export class Notifications extends Construct {
  readonly key: Key;
  readonly alertsTopic: Topic;
  readonly opsTopic: Topic;

  constructor(scope: Construct, id: string, props: NotificationsProps) {
    super(scope, id);
    this.key = new Key(this, 'TopicKey', {
      description: 'Encrypts the FlowPilot alerts and ops topics',
      enableKeyRotation: true,
    });
    const stack = Stack.of(this);
    // Only this account's alarms (a confused deputy elsewhere cannot borrow the key).
    const ownAlarms = {
      ArnLike: {
        'aws:SourceArn': stack.formatArn({
          service: 'cloudwatch',
          resource: 'alarm',
          resourceName: '*',
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      },
      StringEquals: { 'aws:SourceAccount': stack.account },
    };
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublishToOpsTopic',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: ownAlarms,
      }),
    );
    denyGrantsExceptForAwsServices(this.key);

    this.alertsTopic = new Topic(this, 'AlertsTopic', {
      displayName: 'FlowPilot alerts',
      masterKey: this.key,
      enforceSSL: true,
    });
    this.opsTopic = new Topic(this, 'OpsTopic', {
      displayName: 'FlowPilot ops',
      masterKey: this.key,
      enforceSSL: true,
    });
    // The topic policy replaces SNS's default one, so the alarm service is allowed by name.
    this.opsTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.opsTopic.topicArn],
        conditions: ownAlarms,
      }),
    );

    for (const email of props.notifications.emails) {
      this.alertsTopic.addSubscription(new EmailSubscription(email));
      this.opsTopic.addSubscription(new EmailSubscription(email));
    }
    for (const phone of props.notifications.phoneNumbers) {
      this.alertsTopic.addSubscription(
        new SmsSubscription(phone, {
          filterPolicy: {
            [SEVERITY_ATTRIBUTE]: SubscriptionFilter.stringFilter({ allowlist: SMS_SEVERITIES }),
          },
        }),
      );
    }
  }
}

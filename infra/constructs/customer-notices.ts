import { CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { EmailIdentity, Identity } from 'aws-cdk-lib/aws-ses';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { sesIdentityOf } from '../../functions/commons/config/customer-notices.ts';
import type { CustomersConfig } from '../../functions/commons/config/customers.ts';
import { NOTICE_DELIVERY_ENV } from '../../functions/commons/customer-notices/delivery.ts';
import {
  NOTICE_CHANNEL_DIMENSION,
  NOTICE_METRICS,
} from '../../functions/commons/customer-notices/metrics.ts';
import { METRICS_NAMESPACE, SERVICE_NAME } from '../metrics.ts';

export interface CustomerNoticesProps {
  readonly customers: CustomersConfig;
  /** Alarms notify here, on alarm and on recovery. */
  readonly opsTopic: ITopic;
}

/** What grantTo needs of a function (a FlowPilotFunction has both). */
export interface NoticeSender {
  addEnvironment(key: string, value: string): unknown;
  readonly executionRole: iam.IRole;
}

/** Any SNS ARN (topics, platform endpoints): what the SMS grant must never reach. */
const ANY_SNS_ARN = 'arn:aws:sns:*:*:*';

/**
 * What customer notices need in AWS: the SES identity that sends (from configuration), a
 * send grant scoped to it and to the from address, SMS by SNS to phone numbers only, and
 * alarms when notices fail or SMS spend nears the account limit.
 */
export class CustomerNotices extends Construct {
  readonly identityName: string | undefined;
  readonly identityArn: string | undefined;
  readonly alarms: Alarm[] = [];
  readonly #customers: CustomersConfig;

  constructor(scope: Construct, id: string, props: CustomerNoticesProps) {
    super(scope, id);
    this.#customers = props.customers;
    const { email, sms } = props.customers.notices;
    const stack = Stack.of(this);
    if (email) {
      this.identityName = sesIdentityOf(email);
      const isAddress = this.identityName.includes('@');
      if (email.createIdentity) {
        const identity = new EmailIdentity(this, 'Identity', {
          identity: isAddress
            ? Identity.email(this.identityName)
            : Identity.domain(this.identityName),
        });
        if (!isAddress) {
          identity.dkimRecords.forEach((r, i) => {
            new CfnOutput(this, `DkimRecord${i + 1}`, {
              description: 'CNAME to add in DNS so SES can verify the notice sender domain',
              value: `${r.name} CNAME ${r.value}`,
            });
          });
        }
      }
      this.identityArn = stack.formatArn({
        service: 'ses',
        resource: 'identity',
        resourceName: this.identityName,
      });
      new CfnOutput(this, 'SenderIdentity', {
        description: 'SES identity that sends customer notices (verify it; leave the SES sandbox)',
        value: this.identityName,
      });
    }

    const action = new SnsAction(props.opsTopic);
    const channel = (name: string) =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: NOTICE_METRICS.failed,
        dimensionsMap: { service: SERVICE_NAME, [NOTICE_CHANNEL_DIMENSION]: name },
        statistic: 'Sum',
        period: Duration.minutes(15),
      });
    const failed = new Alarm(this, 'Alarm-notice-failed', {
      alarmName: `${stack.stackName}-customer-notice-failed`,
      alarmDescription:
        'A customer notice (email or SMS) failed for good; see `flowpilot outbox` and the logs',
      metric: new MathExpression({
        expression: 'email + sms',
        usingMetrics: { email: channel('email'), sms: channel('sms') },
        label: 'customer notices failed',
        period: Duration.minutes(15),
      }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.alarms.push(failed);
    if (sms.enabled) {
      this.alarms.push(
        new Alarm(this, 'Alarm-sms-spend', {
          alarmName: `${stack.stackName}-sms-spend`,
          alarmDescription: `SMS spend this month is over 80 % of the account limit (${sms.monthlySpendLimitUsd} USD); past it SNS stops sending SMS`,
          metric: new Metric({
            namespace: 'AWS/SNS',
            metricName: 'SMSMonthToDateSpentUSD',
            statistic: 'Maximum',
            period: Duration.hours(1),
          }),
          threshold: sms.monthlySpendLimitUsd * 0.8,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    for (const alarm of this.alarms) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
  }

  /**
   * Lets `fn` send notices: `CUSTOMER_NOTICES_DELIVERY=aws`, `ses:SendEmail` on the identity
   * from the configured address only, and `sns:Publish` to anything but an SNS ARN (that is,
   * to phone numbers; SNS has no ARN for a number, so it cannot be named). `sms: false` for a
   * function that only mails (the customer page's change-of-email links).
   */
  grantTo(fn: NoticeSender, channels: { sms: boolean } = { sms: true }): this {
    fn.addEnvironment(NOTICE_DELIVERY_ENV, 'aws');
    const { email, sms } = this.#customers.notices;
    if (email && this.identityArn) {
      fn.executionRole.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'SendCustomerNoticeEmail',
          actions: ['ses:SendEmail'],
          resources: [this.identityArn],
          conditions: { StringEquals: { 'ses:FromAddress': email.from } },
        }),
      );
    }
    if (sms.enabled && channels.sms) {
      fn.executionRole.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'SendCustomerNoticeSms',
          actions: ['sns:Publish'],
          notResources: [ANY_SNS_ARN],
        }),
      );
    }
    return this;
  }
}

import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { CustomerNotices } from '../../infra/constructs/customer-notices.ts';

/** The construct in a stack of its own, granting one plain function (no bundling needed). */
function synth(notices: Record<string, unknown>, channels?: { sms: boolean }) {
  const stack = new Stack(new App(), 'Notices', {
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  const role = new iam.Role(stack, 'Role', {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
  });
  const fn = new LambdaFunction(stack, 'Fn', {
    code: Code.fromInline('export const handler = async () => {};'),
    handler: 'index.handler',
    runtime: Runtime.NODEJS_22_X,
    role,
  });
  const construct = new CustomerNotices(stack, 'CustomerNotices', {
    customers: parseConfig({ customers: { notices } }).customers,
    opsTopic: new Topic(stack, 'Ops'),
  }).grantTo({ addEnvironment: (k, v) => fn.addEnvironment(k, v), executionRole: role }, channels);
  return { template: Template.fromStack(stack), construct };
}

type Statement = { Sid?: string; Action: unknown; Resource?: unknown; NotResource?: unknown };

function statements(template: Template): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
    (p) =>
      (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties
        .PolicyDocument.Statement,
  );
}

const identityArn = (name: string) => ({
  'Fn::Join': [
    '',
    ['arn:', { Ref: 'AWS::Partition' }, `:ses:eu-west-1:123456789012:identity/${name}`],
  ],
});

// The first synthesis pays for loading aws-cdk-lib, slow on a busy machine.
describe('Construct: CustomerNotices', { timeout: 120_000 }, () => {
  it('creates the configured domain identity and scopes ses:SendEmail to it and the from address', () => {
    const { template } = synth({ email: { from: 'traffic@notices.example.com' } });
    template.hasResourceProperties('AWS::SES::EmailIdentity', {
      EmailIdentity: 'notices.example.com',
    });
    const send = statements(template).filter((s) => s.Sid === 'SendCustomerNoticeEmail');
    expect(send).toEqual([
      {
        Sid: 'SendCustomerNoticeEmail',
        Effect: 'Allow',
        Action: 'ses:SendEmail',
        Resource: identityArn('notices.example.com'),
        Condition: { StringEquals: { 'ses:FromAddress': 'traffic@notices.example.com' } },
      },
    ]);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: { CUSTOMER_NOTICES_DELIVERY: 'aws' } },
    });
  });

  it('grants SMS to phone numbers only, never to a topic', () => {
    const { template } = synth({});
    const sms = statements(template).filter((s) => s.Sid === 'SendCustomerNoticeSms');
    expect(sms).toEqual([
      {
        Sid: 'SendCustomerNoticeSms',
        Effect: 'Allow',
        Action: 'sns:Publish',
        NotResource: 'arn:aws:sns:*:*:*',
      },
    ]);
    // No email configured: no identity and no SES grant.
    template.resourceCountIs('AWS::SES::EmailIdentity', 0);
    expect(JSON.stringify(statements(template))).not.toContain('ses:');
  });

  it('only grants an existing identity when told not to create it, and no SMS when SMS is off', () => {
    const { template } = synth({
      email: { from: 'n@example.com', identity: 'n@example.com', createIdentity: false },
      sms: { enabled: false },
    });
    template.resourceCountIs('AWS::SES::EmailIdentity', 0);
    const all = statements(template);
    expect(all.map((s) => s.Sid).filter(Boolean)).toEqual(['SendCustomerNoticeEmail']);
    expect(all[0]?.Resource).toEqual(identityArn('n@example.com'));
  });

  it('grants a function that only mails (the customer page) email and never SMS', () => {
    const { template } = synth({ email: { from: 'traffic@notices.example.com' } }, { sms: false });
    expect(statements(template).map((s) => s.Sid)).toEqual(['SendCustomerNoticeEmail']);
  });

  it('alarms on failed notices and on SMS spend nearing the account limit, to the ops topic', () => {
    const { template, construct } = synth({ sms: { monthlySpendLimitUsd: 50 } });
    expect(construct.alarms).toHaveLength(2);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'Notices-customer-notice-failed',
      Threshold: 1,
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'email + sms' }),
        Match.objectLike({
          MetricStat: Match.objectLike({
            Metric: {
              Namespace: 'FlowPilot',
              MetricName: 'CustomerNoticeFailed',
              Dimensions: Match.arrayWith([{ Name: 'Channel', Value: 'sms' }]),
            },
          }),
        }),
      ]),
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^Ops') }],
      OKActions: [{ Ref: Match.stringLikeRegexp('^Ops') }],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'Notices-sms-spend',
      MetricName: 'SMSMonthToDateSpentUSD',
      Namespace: 'AWS/SNS',
      Threshold: 40,
    });
  });
});

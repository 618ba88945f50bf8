import { CfnOutput, Tags } from 'aws-cdk-lib';
import { CfnProtectConfiguration } from 'aws-cdk-lib/aws-smsvoice';
import { Construct } from 'constructs';
import { ISO_COUNTRIES } from '../../functions/commons/config/sms-countries.ts';

export interface SmsProtectionProps {
  /** ISO 3166-1 alpha-2 countries SMS may go to (`notifications.smsProtectCountries`). */
  readonly allowCountries: readonly string[];
}

/**
 * An AWS End User Messaging protect configuration for this account's SMS: the listed
 * countries allowed, every other one blocked, so a payer's foreign number cannot spend the
 * budget the agent's critical alert SMS need. SNS honours a protect configuration only as
 * the account default, which CloudFormation cannot set: the README gives the one command,
 * with the id this construct outputs.
 */
export class SmsProtection extends Construct {
  readonly protectConfiguration: CfnProtectConfiguration;

  constructor(scope: Construct, id: string, props: SmsProtectionProps) {
    super(scope, id);
    const allowed = new Set(props.allowCountries);
    this.protectConfiguration = new CfnProtectConfiguration(this, 'ProtectConfiguration', {
      countryRuleSet: {
        sms: ISO_COUNTRIES.map((countryCode) => ({
          countryCode,
          protectStatus: allowed.has(countryCode) ? 'ALLOW' : 'BLOCK',
        })),
      },
    });
    // End User Messaging shows a protect configuration by its Name tag.
    Tags.of(this.protectConfiguration).add('Name', 'flowpilot-sms');
    new CfnOutput(this, 'ProtectConfigurationId', {
      description:
        'Make it the account default so that SNS SMS obey it: aws pinpoint-sms-voice-v2 set-account-default-protect-configuration --protect-configuration-id <this>',
      value: this.protectConfiguration.attrProtectConfigurationId,
    });
  }
}

import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import {
  type App,
  type IPolicyValidationContext,
  type IPolicyValidationPlugin,
  type PolicyValidationPluginReport,
  Validations,
} from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';

/**
 * AWS Control Tower's proactive controls: the CloudFormation Guard rules and the cfn-guard
 * binary shipped in @cdklabs/cdk-validator-cfnguard, run offline at synth. Its findings carry
 * no severity, and CDK recomputes a report's success from severities once any finding of it
 * is acknowledged; so without this wrapper, one acknowledgement would let every other finding
 * through. Each finding is an error here.
 */
export class ControlTowerChecks implements IPolicyValidationPlugin {
  private readonly guard = new CfnGuardValidator();
  readonly name = this.guard.name;
  readonly version = this.guard.version;
  readonly ruleIds = this.guard.ruleIds;

  validate(context: IPolicyValidationContext): PolicyValidationPluginReport {
    const report = this.guard.validate(context);
    return {
      ...report,
      violations: report.violations.map((v) => ({ ...v, severity: 'error' })),
    };
  }
}

/**
 * The policy checks synth runs: cdk-nag's AwsSolutions pack and the Control Tower controls.
 * A finding not acknowledged on its construct, with a reason, fails synthesis.
 */
export function addPolicyChecks(app: App): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ControlTowerChecks());
}

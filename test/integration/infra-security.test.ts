import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CfnRole } from 'aws-cdk-lib/aws-iam';
import type { CfnKey } from 'aws-cdk-lib/aws-kms';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/commons/config/load.ts';
import type { ConfigInput } from '../../functions/commons/config/schema.ts';
import { ISO_COUNTRIES } from '../../functions/commons/config/sms-countries.ts';
import { FUNCTION_ENTRIES, type FunctionName, PROJECT_ROOT } from '../../infra/bundling.ts';
import {
  EPAY_GET_PATH,
  WEBHOOK_PATH,
  WEBHOOK_ROUTE_THROTTLE,
} from '../../infra/constructs/webhook-api.ts';
import { buildApp } from '../../infra/main.ts';
import { addPolicyChecks } from '../../infra/policy-checks.ts';
import type { FlowPilotStack } from '../../infra/stack.ts';

// Bundling is skipped (the template is the same but for asset hashes), so this synth is quick.
const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };
const CONFIG: ConfigInput = {
  logs: { retentionDays: 731 },
  notifications: { smsProtectCountries: ['CN', 'US'] },
};

type Resource = { Type: string; Properties: Record<string, unknown> };
type Statement = {
  Effect: string;
  Action: string | string[];
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
};

let stack: FlowPilotStack;
let resources: Record<string, Resource>;

beforeAll(() => {
  const app = new App({ context: { ...NO_BUNDLING, flowpilot: CONFIG } });
  ({ stack } = buildApp({ app, env: {} }));
  // Runs cdk-nag and the Control Tower controls; throws on any unacknowledged finding.
  app.synth();
  resources = Template.fromStack(stack).toJSON().Resources;
}, 300_000);

const ofType = (type: string) => Object.values(resources).filter((r) => r.Type === type);
const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);

/** The DynamoDB actions a function's code needs, read from what its bundle calls. */
async function dynamoActionsCalledBy(name: FunctionName): Promise<string[]> {
  const out = await build({
    entryPoints: [join(PROJECT_ROOT, FUNCTION_ENTRIES[name])],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'node',
    packages: 'external',
    logLevel: 'silent',
  });
  const code = out.outputFiles[0]?.text ?? '';
  const COMMAND_ACTIONS: Record<string, string[]> = {
    Get: ['GetItem'],
    BatchGet: ['BatchGetItem'],
    TransactGet: ['GetItem'],
    Query: ['Query'],
    Scan: ['Scan'],
    Put: ['PutItem'],
    Update: ['UpdateItem'],
    Delete: ['DeleteItem'],
    BatchWrite: ['BatchWriteItem'],
    // A transaction is authorised by the actions of its items, below.
    TransactWrite: [],
  };
  const actions = new Set<string>();
  for (const [, command] of code.matchAll(/new (\w+?)Command\d*\(/g)) {
    for (const a of COMMAND_ACTIONS[command ?? ''] ?? []) actions.add(`dynamodb:${a}`);
  }
  if (code.includes('TransactWriteCommand')) {
    const ITEM_ACTIONS: Record<string, string> = {
      Put: 'PutItem',
      Update: 'UpdateItem',
      Delete: 'DeleteItem',
      ConditionCheck: 'ConditionCheckItem',
    };
    for (const [, item] of code.matchAll(/\b(Put|Update|Delete|ConditionCheck):\s*\{/g)) {
      actions.add(`dynamodb:${ITEM_ACTIONS[item ?? '']}`);
    }
  }
  return [...actions].sort();
}

function roleDynamoActions(name: FunctionName): string[] {
  const fns: Record<FunctionName, { executionRole: { node: { defaultChild?: unknown } } }> = {
    'poll-totals': stack.jobs.pollTotals.function,
    'poll-usage': stack.jobs.pollUsage.function,
    'poll-customers': stack.jobs.pollCustomers.function,
    'customer-actions': stack.customerActions.function,
    reconcile: stack.jobs.reconcile.function,
    'payment-webhook': stack.webhook.function,
    portal: stack.portal.function,
  };
  const roleId = stack.getLogicalId(fns[name].executionRole.node.defaultChild as CfnRole);
  return ofType('AWS::IAM::Policy')
    .filter((p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
    .flatMap((s) => list(s.Action))
    .filter((a) => a.startsWith('dynamodb:'))
    .sort();
}

describe('FlowPilotStack security', () => {
  describe('IAM', () => {
    it.each(Object.keys(FUNCTION_ENTRIES) as FunctionName[])(
      'grants %s exactly the DynamoDB actions its code calls',
      async (name) => {
        expect(roleDynamoActions(name)).toEqual(await dynamoActionsCalledBy(name));
      },
    );

    it('lets no role delete items, the internet-facing webhook least of all', () => {
      for (const name of Object.keys(FUNCTION_ENTRIES) as FunctionName[]) {
        expect(roleDynamoActions(name)).not.toContain('dynamodb:DeleteItem');
      }
    });
  });

  describe('KMS', () => {
    const keyStatements = () =>
      ofType('AWS::KMS::Key').map(
        (k) => (k.Properties.KeyPolicy as { Statement: Statement[] }).Statement,
      );

    it('scopes every service principal in a key policy to this account', () => {
      const services = keyStatements()
        .flat()
        .filter((s) => s.Effect === 'Allow' && JSON.stringify(s.Principal).includes('Service'));
      expect(services.length).toBeGreaterThanOrEqual(2);
      for (const s of services) {
        const keys = Object.values(s.Condition ?? {}).flatMap((c) => Object.keys(c));
        const scoped =
          (keys.includes('aws:SourceAccount') && keys.includes('aws:SourceArn')) ||
          // CloudWatch Logs names the log group in the encryption context, as AWS documents.
          keys.includes('kms:EncryptionContext:aws:logs:arn');
        expect(scoped, JSON.stringify(s)).toBe(true);
      }
    });

    it('denies creating grants except for AWS services acting for AWS resources, on every key', () => {
      for (const statements of keyStatements()) {
        expect(statements).toContainEqual(
          expect.objectContaining({
            Effect: 'Deny',
            Action: 'kms:CreateGrant',
            Condition: {
              BoolIfExists: {
                'kms:GrantIsForAWSResource': 'false',
                'aws:PrincipalIsAWSService': 'false',
              },
            },
          }),
        );
      }
    });
  });

  describe('logs', () => {
    it('encrypts every log group with the logs key and keeps it for logs.retentionDays', () => {
      const groups = ofType('AWS::Logs::LogGroup');
      expect(groups).toHaveLength(8);
      const logsKey = stack.getLogicalId(
        stack.node.findChild('LogEncryption').node.findChild('Key').node.defaultChild as CfnKey,
      );
      for (const g of groups) {
        expect(g.Properties.KmsKeyId).toEqual({ 'Fn::GetAtt': [logsKey, 'Arn'] });
        expect(g.Properties.RetentionInDays).toBe(731);
      }
    });

    it('refuses a retention under a year, naming the key', () => {
      expect(() => parseConfig({ logs: { retentionDays: 90 } })).toThrow(
        /logs\.retentionDays: must be one of 365, 400/,
      );
      expect(parseConfig({}).logs.retentionDays).toBe(365);
    });
  });

  describe('webhook API', () => {
    it('throttles the webhook route on its own, below the stage', () => {
      const [stage] = ofType('AWS::ApiGatewayV2::Stage');
      const settings = (stage?.Properties.RouteSettings ?? {}) as Record<
        string,
        Record<string, number>
      >;
      const route = settings[`POST ${WEBHOOK_PATH}`];
      expect(route).toEqual({
        ThrottlingRateLimit: WEBHOOK_ROUTE_THROTTLE.rateLimit,
        ThrottlingBurstLimit: WEBHOOK_ROUTE_THROTTLE.burstLimit,
      });
      const stageLimits = stage?.Properties.DefaultRouteSettings as Record<string, number>;
      expect(route?.ThrottlingRateLimit).toBeLessThanOrEqual(stageLimits.ThrottlingRateLimit ?? 0);
    });

    it("throttles epay's GET route like the POST route, below the stage", () => {
      const [stage] = ofType('AWS::ApiGatewayV2::Stage');
      const settings = (stage?.Properties.RouteSettings ?? {}) as Record<string, unknown>;
      expect(settings[`GET ${EPAY_GET_PATH}`]).toEqual({
        ThrottlingRateLimit: WEBHOOK_ROUTE_THROTTLE.rateLimit,
        ThrottlingBurstLimit: WEBHOOK_ROUTE_THROTTLE.burstLimit,
      });
      // Every route that reaches the function has its own limit.
      const routes = ofType('AWS::ApiGatewayV2::Route').map((r) => r.Properties.RouteKey);
      expect(Object.keys(settings).sort()).toEqual([...routes].sort());
    });

    it("lets API Gateway invoke the function only from this account's API", () => {
      for (const p of ofType('AWS::Lambda::Permission')) {
        if (p.Properties.Principal !== 'apigateway.amazonaws.com') continue;
        expect(p.Properties.SourceAccount).toEqual({ Ref: 'AWS::AccountId' });
        expect(JSON.stringify(p.Properties.SourceArn)).toContain(':execute-api:');
      }
    });
  });

  describe('secrets', () => {
    it('creates placeholders of 64 characters without punctuation or spaces', () => {
      const secrets = ofType('AWS::SecretsManager::Secret');
      expect(secrets).toHaveLength(8);
      for (const s of secrets) {
        expect(s.Properties.GenerateSecretString).toEqual({
          PasswordLength: 64,
          ExcludePunctuation: true,
          IncludeSpace: false,
        });
      }
    });
  });
});

describe('SMS budget', () => {
  it('allows SMS to the listed countries only, blocking every other one', () => {
    const configs = ofType('AWS::SMSVOICE::ProtectConfiguration');
    expect(configs).toHaveLength(1);
    const ruleSet = configs[0]?.Properties.CountryRuleSet as { SMS?: Record<string, string>[] };
    const rules = ruleSet.SMS ?? [];
    const allowed = rules.filter((r) => r.ProtectStatus === 'ALLOW').map((r) => r.CountryCode);
    expect(allowed.sort()).toEqual(['CN', 'US']);
    const blocked = rules.filter((r) => r.ProtectStatus === 'BLOCK').map((r) => r.CountryCode);
    expect(blocked).toContain('SO');
    expect(blocked).toHaveLength(ISO_COUNTRIES.length - 2);
  });

  it('refuses a country code End User Messaging does not know, naming the key', () => {
    expect(() => parseConfig({ notifications: { smsProtectCountries: ['cn'] } })).toThrow(
      /notifications\.smsProtectCountries\.0: must be an ISO 3166-1 alpha-2 country code/,
    );
  });
});

describe('upstream over plain HTTP at synth', () => {
  const synthWith = (upstream: Record<string, unknown>) => () =>
    buildApp({ app: new App({ context: { ...NO_BUNDLING, flowpilot: { upstream } } }), env: {} });

  it('refuses an http:// upstream.baseUrl, naming the key', () => {
    expect(synthWith({ baseUrl: 'http://user.ipweb.cc/prod-api' })).toThrow(
      /upstream\.baseUrl: http:\/\/user\.ipweb\.cc\/prod-api would send the upstream token in clear/,
    );
  });

  it('accepts it when upstream.allowInsecureHttp is set on purpose, and https by default', () => {
    expect(
      synthWith({ baseUrl: 'http://user.ipweb.cc/prod-api', allowInsecureHttp: true }),
    ).not.toThrow();
    expect(parseConfig({}).upstream.baseUrl).toBe('https://user.ipweb.cc/prod-api');
  });
});

describe('policy checks at synth (cdk-nag and AWS Control Tower proactive controls)', () => {
  function appWith(build: (stack: Stack) => void): App {
    const app = new App();
    addPolicyChecks(app);
    build(new Stack(app, 'Probe'));
    return app;
  }

  it('fails synthesis on a finding nobody acknowledged', () => {
    const app = appWith((stack) => {
      new LogGroup(stack, 'ShortLived', { retention: RetentionDays.ONE_MONTH });
    });
    expect(() => app.synth()).toThrow(/CT\.CLOUDWATCH\.PR\.2[\s\S]*Probe\/ShortLived/);
  });

  it('still fails when another finding of the same plugin was acknowledged', () => {
    const app = appWith((stack) => {
      const known = new LogGroup(stack, 'Known', { retention: RetentionDays.ONE_MONTH });
      for (const id of [
        'cloudwatch_log_group_retention_period_check',
        'cloudwatch_log_group_encrypted_check',
      ]) {
        Validations.of(known).acknowledge({
          id: `cdk-validator-cfnguard::${id}`,
          reason: 'a test',
        });
      }
      new LogGroup(stack, 'New', { retention: RetentionDays.ONE_MONTH });
    });
    expect(() => app.synth()).toThrow(/Probe\/New/);
  });
});

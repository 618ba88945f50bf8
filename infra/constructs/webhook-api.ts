import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  type CfnStage,
  HttpApi,
  HttpMethod,
  type HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { CfnPermission } from 'aws-cdk-lib/aws-lambda';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS, FUNCTION_TIMEOUT_SECONDS } from '../limits.ts';
import { FlowPilotFunction } from './function.ts';

export const WEBHOOK_PATH = '/webhooks/{provider}';
/** 彩虹易支付 notifies by GET with the parameters in the query string. */
export const EPAY_GET_PATH = '/webhooks/epay';

/**
 * The webhook routes' own limit, below the stage's: a flood of unsigned requests gets 429
 * from API Gateway before it reaches the function. Sized for a real burst (bench/burst.ts):
 * 1,000 paid orders in a minute pass without a 429, and 1,000 in ten seconds lose none even
 * with epay's short retry schedule (15/15/30/180 s), where 10/s (burst 20) lost 428.
 */
export const WEBHOOK_ROUTE_THROTTLE = { rateLimit: 50, burstLimit: 200 } as const;

export interface WebhookApiProps {
  readonly environment: Record<string, string>;
  /**
   * Stage-wide limits. Payment webhooks arrive at a few per minute; the limits stop a flood
   * from reaching the function and the upstream, and providers retry what gets a 429.
   * @default { rateLimit: 100, burstLimit: 400 }
   */
  readonly throttle?: { readonly rateLimit: number; readonly burstLimit: number };
}

/**
 * `POST /webhooks/{provider}` (and `GET /webhooks/epay`) on an HTTP API in front of payment-webhook. No IAM or JWT
 * authorizer: providers cannot sign AWS requests, so the function verifies each provider's
 * own signature before it acts. Throttled at the stage, access-logged as JSON without bodies
 * or headers (signatures stay out of the logs).
 */
export class WebhookApi extends Construct {
  readonly function: FlowPilotFunction;
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;
  /** `https://<api>.execute-api.<region>.amazonaws.com/webhooks`; providers get `/<name>`. */
  readonly webhookBaseUrl: string;

  constructor(scope: Construct, id: string, props: WebhookApiProps) {
    super(scope, id);
    this.function = new FlowPilotFunction(this, 'Function', {
      name: 'payment-webhook',
      description: 'Verifies payment webhooks and credits paid traffic exactly once',
      timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS['payment-webhook']),
      memorySize: 512,
      environment: props.environment,
    });

    this.api = new HttpApi(this, 'Api', {
      description: 'FlowPilot payment webhooks',
      createDefaultStage: false,
    });
    const integration = new HttpLambdaIntegration('PaymentWebhook', this.function, {
      timeout: Duration.seconds(API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS),
    });
    const routes = [
      ...this.api.addRoutes({ path: WEBHOOK_PATH, methods: [HttpMethod.POST], integration }),
      // GET for epay only; the function answers 405 to a GET for any other provider.
      ...this.api.addRoutes({ path: EPAY_GET_PATH, methods: [HttpMethod.GET], integration }),
    ];
    for (const r of routes) {
      Validations.of(r).acknowledge(
        {
          id: 'AwsSolutions-APIG4',
          reason:
            'Payment providers cannot sign AWS requests; the function verifies the provider signature (Stripe, Standard Webhooks, EPay) before acting.',
        },
        {
          id: 'cdk-validator-cfnguard::api_gw_v2_authorization_type_configured_check',
          reason:
            'CT.APIGATEWAY.PR.5: providers cannot send AWS, JWT or custom authorizer credentials; each signs the body, and the function verifies that signature before it acts.',
        },
      );
    }
    // API Gateway may invoke the function only for this account's API.
    for (const permission of this.node.findAll().filter((c) => c instanceof CfnPermission)) {
      permission.sourceAccount = Stack.of(this).account;
      Validations.of(permission).acknowledge({
        id: 'cdk-validator-cfnguard::lambda_function_public_access_prohibited_check',
        reason:
          'CT.LAMBDA.PR.2: SourceAccount and SourceArn are both set, as references (the stack is environment-agnostic); the rule accepts only a literal account id.',
      });
    }

    // Retention and KMS encryption come from the stack's LogEncryption.
    this.accessLogs = new LogGroup(this, 'AccessLogs', { removalPolicy: RemovalPolicy.RETAIN });
    const throttle = props.throttle ?? { rateLimit: 100, burstLimit: 400 };
    this.stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            requestTime: '$context.requestTime',
            method: '$context.httpMethod',
            path: '$context.path',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            latencyMs: '$context.responseLatency',
            integrationStatus: '$context.integrationStatus',
            integrationLatencyMs: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
            errorMessage: '$context.error.message',
          }),
        ),
      },
    });
    // Both routes that reach the function, epay's GET as much as every provider's POST.
    const routeThrottle = {
      ThrottlingRateLimit: WEBHOOK_ROUTE_THROTTLE.rateLimit,
      ThrottlingBurstLimit: WEBHOOK_ROUTE_THROTTLE.burstLimit,
    };
    (this.stage.node.defaultChild as CfnStage).routeSettings = {
      [`POST ${WEBHOOK_PATH}`]: routeThrottle,
      [`GET ${EPAY_GET_PATH}`]: routeThrottle,
    };
    this.webhookBaseUrl = `${this.stage.url}webhooks`;
  }
}

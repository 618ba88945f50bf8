import { Duration, Stack, Validations } from 'aws-cdk-lib';
import {
  type CfnStage,
  type HttpApi,
  HttpMethod,
  type HttpStage,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { CfnPermission } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS, FUNCTION_TIMEOUT_SECONDS } from '../limits.ts';
import { FlowPilotFunction } from './function.ts';

export const PORTAL_PATH = '/portal/{proxy+}';
export const PORTAL_ROOT_PATH = '/portal';

/**
 * The page's routes' own limit, below the stage's: the function counts each customer and
 * each address in DynamoDB too, but a flood should stop at API Gateway first.
 */
export const PORTAL_ROUTE_THROTTLE = { rateLimit: 10, burstLimit: 20 } as const;

export interface PortalProps {
  /** The HTTP API the webhooks are on: the page shares its domain and stage. */
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly environment: Record<string, string>;
}

/**
 * The customer page: `GET|POST /portal/…` on the webhooks' HTTP API, in front of a `portal`
 * function with a role of its own (granted by the stack: the table's read actions and
 * UpdateItem, the portal secret). No API Gateway authorizer: customers hold no AWS or JWT
 * credentials; the function admits a request only with a signed link or the session it set.
 */
export class Portal extends Construct {
  readonly function: FlowPilotFunction;
  /** `https://<api>.execute-api.<region>.amazonaws.com`, what `portal.baseUrl` defaults to. */
  readonly baseUrl: string;

  constructor(scope: Construct, id: string, props: PortalProps) {
    super(scope, id);
    this.function = new FlowPilotFunction(this, 'Function', {
      name: 'portal',
      description: "Serves each customer's own page behind a signed link",
      timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.portal),
      memorySize: 512,
      environment: props.environment,
    });
    const integration = new HttpLambdaIntegration('Portal', this.function, {
      timeout: Duration.seconds(API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS),
    });
    const methods = [HttpMethod.GET, HttpMethod.POST];
    const routes = [
      ...props.api.addRoutes({ path: PORTAL_PATH, methods, integration }),
      ...props.api.addRoutes({ path: PORTAL_ROOT_PATH, methods: [HttpMethod.GET], integration }),
    ];
    for (const r of routes) {
      Validations.of(r).acknowledge(
        {
          id: 'AwsSolutions-APIG4',
          reason:
            "Customers hold no AWS or JWT credentials; the function admits a request only with an HMAC-signed link or the signed session cookie it set, bound to the customer's link version.",
        },
        {
          id: 'cdk-validator-cfnguard::api_gw_v2_authorization_type_configured_check',
          reason:
            'CT.APIGATEWAY.PR.5: the customer page authenticates by signed link and session cookie in the function; API Gateway authorizers need credentials customers do not have.',
        },
      );
    }
    for (const permission of props.api.node.findAll().filter((c) => c instanceof CfnPermission)) {
      if (permission.sourceAccount) continue;
      permission.sourceAccount = Stack.of(this).account;
      Validations.of(permission).acknowledge({
        id: 'cdk-validator-cfnguard::lambda_function_public_access_prohibited_check',
        reason:
          'CT.LAMBDA.PR.2: SourceAccount and SourceArn are both set, as references (the stack is environment-agnostic); the rule accepts only a literal account id.',
      });
    }
    const stage = props.stage.node.defaultChild as CfnStage;
    const settings = (stage.routeSettings ?? {}) as Record<string, unknown>;
    const limit = {
      ThrottlingRateLimit: PORTAL_ROUTE_THROTTLE.rateLimit,
      ThrottlingBurstLimit: PORTAL_ROUTE_THROTTLE.burstLimit,
    };
    stage.routeSettings = {
      ...settings,
      [`GET ${PORTAL_PATH}`]: limit,
      [`POST ${PORTAL_PATH}`]: limit,
      [`GET ${PORTAL_ROOT_PATH}`]: limit,
    };
    this.baseUrl = props.stage.url.replace(/\/$/, '');
  }
}

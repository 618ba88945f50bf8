import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { getConfig } from '#config';
import { checkoutOptInOf, recordCheckoutOptIn } from './commons/autotopup/opt-in.ts';
import { optInDepsFromEnv } from './commons/autotopup/opt-in-deps.ts';
import type { PaymentsConfig } from './commons/config/payments.ts';
import { logger } from './commons/logger.ts';
import { instrument } from './commons/observability.ts';
import { createPaymentDeps } from './commons/payments/deps.ts';
import { providerOf, toResult, toWebhookRequest } from './commons/payments/http.ts';
import type { PaymentDeps, WebhookAnswer, WebhookRequest } from './commons/payments/types.ts';
import { handleWebhook, isEnabledProvider, NOT_FOUND } from './commons/payments/webhook.ts';

/** Time kept back from the Lambda deadline so the lease can be released and the answer sent. */
const DEADLINE_MARGIN_MS = 2_000;

const INTERNAL_ERROR: APIGatewayProxyStructuredResultV2 = {
  statusCode: 500,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ message: 'internal error' }),
};

const RETRY_LATER: APIGatewayProxyStructuredResultV2 = {
  statusCode: 503,
  headers: { 'content-type': 'application/json', 'retry-after': '5' },
  body: JSON.stringify({ message: 'retry-later' }),
};

export interface WebhookHooks {
  /**
   * Auto top-up: runs after a Stripe delivery was credited (or found credited), or a
   * setup-mode Checkout saved a card, on the verified request; records a Checkout opt-in. Throwing answers 503 so that Stripe
   * redelivers (the credit itself is idempotent).
   */
  stripeCredited?: (req: WebhookRequest) => Promise<void>;
}

function credited(answer: WebhookAnswer): boolean {
  return (
    answer.statusCode === 200 &&
    (answer.result === 'credited' || answer.result === 'already-credited')
  );
}

/**
 * `POST /webhooks/{provider}` (API Gateway HTTP API, payload v2). Thin: the event becomes a
 * raw request, the payments domain decides, the answer goes back as is. `paymentsConfig`
 * says which providers are enabled, known before `getDeps` reads any secret.
 */
export function createPaymentWebhookHandler(
  getDeps: () => Promise<PaymentDeps>,
  paymentsConfig: () => PaymentsConfig = () => getConfig().payments,
  hooks: WebhookHooks = {},
) {
  return async (
    event: APIGatewayProxyEventV2,
    context?: Pick<Context, 'getRemainingTimeInMillis'>,
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    const provider = providerOf(event);
    // Unknown or disabled providers are answered without building anything (no secrets read).
    let enabled: boolean;
    try {
      enabled = isEnabledProvider(provider, paymentsConfig());
    } catch (err) {
      logger.error('payment-webhook cannot read its configuration', {
        error: err instanceof Error ? err.name : 'unknown',
      });
      return INTERNAL_ERROR;
    }
    if (!enabled) return toResult(NOT_FOUND);
    let deps: PaymentDeps;
    try {
      deps = await getDeps();
    } catch (err) {
      logger.error('payment-webhook cannot start', {
        error: err instanceof Error ? `${err.name}: ${err.message}` : 'unknown',
      });
      return INTERNAL_ERROR;
    }
    const remaining = context?.getRemainingTimeInMillis();
    const signal =
      remaining === undefined
        ? undefined
        : AbortSignal.timeout(Math.max(1_000, remaining - DEADLINE_MARGIN_MS));
    const req = toWebhookRequest(event);
    const answer = await handleWebhook(provider, req, deps, signal ? { signal } : {});
    const optIn = credited(answer) || answer.result === 'card-saved';
    if (provider === 'stripe' && hooks.stripeCredited && optIn) {
      try {
        await hooks.stripeCredited(req);
      } catch (err) {
        logger.error('auto top-up opt-in failed; Stripe will redeliver', {
          error: err instanceof Error ? err.name : 'unknown',
        });
        return { ...RETRY_LATER };
      }
    }
    return toResult(answer);
  };
}

export const handler = instrument(
  createPaymentWebhookHandler(
    () => createPaymentDeps(),
    () => getConfig().payments,
    {
      async stripeCredited(req) {
        const optIn = checkoutOptInOf(req.body);
        if (optIn) await recordCheckoutOptIn(optIn, optInDepsFromEnv());
      },
    },
  ),
);

import { infoEnabled, logger } from '../logger.ts';
import { recordProviderDisabled, recordWebhookOutcome } from '../observability.ts';
import { keepPayerContact } from './contact.ts';
import { deductForRefund } from './deduct.ts';
import { WebhookRequestError } from './errors.ts';
import { checkedKeys } from './keys.ts';
import { jsonAnswer } from './providers/common.ts';
import { epayProvider } from './providers/epay.ts';
import { standardProvider } from './providers/standard.ts';
import { stripeProvider } from './providers/stripe.ts';
import { reverseDeduction } from './reverse.ts';
import { creditPayment, recordPaymentFailed } from './topup.ts';
import type {
  Outcome,
  PaymentDeps,
  PaymentEvent,
  PaymentProvider,
  ProviderId,
  WebhookAnswer,
  WebhookRequest,
} from './types.ts';

export const PROVIDERS: Readonly<Record<ProviderId, PaymentProvider>> = {
  stripe: stripeProvider,
  standard: standardProvider,
  epay: epayProvider,
};

export const NOT_FOUND = jsonAnswer({ statusCode: 404, result: 'not found' });

export function isProviderId(name: string): name is ProviderId {
  return Object.hasOwn(PROVIDERS, name);
}

/** Whether `/webhooks/{name}` answers at all: a provider the configuration enables. */
export function isEnabledProvider(name: string, config: PaymentDeps['config']): name is ProviderId {
  return isProviderId(name) && config.providers.includes(name);
}

/** The last key problem logged per provider, so a flood of deliveries logs it once. */
const loggedKeyProblems = new Map<ProviderId, string>();

function disabledByKeys(provider: ProviderId, problem: string | undefined): boolean {
  if (problem === undefined) {
    loggedKeyProblems.delete(provider);
    return false;
  }
  if (loggedKeyProblems.get(provider) !== problem) {
    loggedKeyProblems.set(provider, problem);
    logger.error('webhook provider disabled: its secret holds no usable key', {
      provider,
      problem,
    });
  }
  recordProviderDisabled(provider);
  return true;
}

function mediaType(contentType: string | undefined): string | undefined {
  return contentType?.split(';')[0]?.trim().toLowerCase() || undefined;
}

function dispatch(
  provider: ProviderId,
  event: PaymentEvent,
  deps: PaymentDeps,
  opts: { signal?: AbortSignal },
): Promise<Outcome> | Outcome {
  switch (event.type) {
    case 'payment-succeeded':
      // Only a credit keeps the payer's contact; duplicates skip the extra step.
      return creditPayment(provider, event, deps, opts).then((o) =>
        o.result === 'credited' ? keepPayerContact(provider, event, o, deps) : o,
      );
    case 'payment-failed':
      return recordPaymentFailed(provider, event, deps);
    case 'refund':
    case 'dispute':
      return deductForRefund(provider, event, deps, opts);
    case 'reversal':
      return reverseDeduction(provider, event, deps, opts);
    case 'ignored':
      logger.info('webhook event ignored', { provider, reason: event.reason });
      return { statusCode: 200, result: event.result ?? 'ignored' };
  }
}

/**
 * `POST /webhooks/{provider}` (and `GET /webhooks/epay`): checks in order of cost (provider, method, size, media type,
 * signature, shape) so a refused request changes nothing, then runs the payment's flow.
 * Answers carry fixed words only; details go to the log.
 */
export async function handleWebhook(
  providerName: string,
  req: WebhookRequest,
  deps: PaymentDeps,
  opts: { signal?: AbortSignal } = {},
): Promise<WebhookAnswer> {
  // A provider the configuration does not enable answers before any secret is read.
  if (!isEnabledProvider(providerName, deps.config)) return NOT_FOUND;
  const provider = PROVIDERS[providerName];
  try {
    const method = req.method ?? 'POST';
    if (method !== 'POST' && !(method === 'GET' && provider.notifiesByGet)) {
      const answer = provider.answer({ statusCode: 405, result: 'method not allowed' });
      const allow = provider.notifiesByGet ? 'GET, POST' : 'POST';
      return { ...answer, headers: { ...answer.headers, allow } };
    }
    if (req.body.length > deps.config.maxBodyBytes) {
      return provider.answer({ statusCode: 413, result: 'payload too large' });
    }
    if (!provider.acceptsContentType(mediaType(req.headers['content-type']), req)) {
      return provider.answer({ statusCode: 415, result: 'unsupported media type' });
    }
    const { keys: secrets, problem } = checkedKeys(
      provider.id,
      await deps.getSecret(provider.secretName),
    );
    // Without a usable key the provider is disabled, as if it were not configured.
    if (disabledByKeys(provider.id, problem)) return NOT_FOUND;
    const event = provider.parse(req, { secrets, config: deps.config });
    const outcome = await dispatch(provider.id, event, deps, opts);
    if (infoEnabled()) {
      logger.info('webhook handled', {
        provider: provider.id,
        event: event.type,
        status: outcome.statusCode,
        result: outcome.result,
      });
    }
    recordWebhookOutcome(outcome.result);
    const answer = provider.answer(outcome);
    answer.result = outcome.result;
    return answer;
  } catch (err) {
    if (err instanceof WebhookRequestError) {
      logger.warn('webhook refused', {
        provider: provider.id,
        status: err.statusCode,
        reason: err.message,
        cause: err.cause instanceof Error ? err.cause.message.slice(0, 500) : undefined,
      });
      recordWebhookOutcome(`refused-${err.statusCode}`);
      return provider.answer({ statusCode: err.statusCode, result: err.message });
    }
    logger.error('webhook failed', {
      provider: provider.id,
      error: err instanceof Error ? err.name : 'unknown',
      message: err instanceof Error ? err.message : undefined,
    });
    recordWebhookOutcome('error');
    return provider.answer({ statusCode: 500, result: 'internal error' });
  }
}

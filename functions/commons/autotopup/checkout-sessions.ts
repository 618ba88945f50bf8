import { randomBytes } from 'node:crypto';
import { FlowPilotError } from '../errors.ts';
import { checkCustomerId } from './settings.ts';
import type {
  CheckoutSessionStore,
  CreatedSession,
  CreatedSessionPurpose,
} from './store/checkout-sessions.ts';

/**
 * Checkout Sessions FlowPilot creates itself (the customer's page): the only ones whose
 * payment may save a card for auto top-up under `autoTopup.checkoutOptIn:
 * created-by-flowpilot`. Whoever creates one
 *   1. takes `ref = newSessionRef()`,
 *   2. creates the session with `metadata[flowpilot_session] = ref`, `client_reference_id` =
 *      the customer it is for, and (purpose `autotopup`) `metadata[autoTopup]` and
 *      `payment_intent_data[setup_future_usage] = off_session`,
 *   3. calls `recordCreatedSession` with Stripe's session id before sending the customer to
 *      the session's URL (a session not recorded is never shown to anyone).
 */

/** The metadata key that names FlowPilot's record of the session. */
export const FLOWPILOT_SESSION_KEY = 'flowpilot_session';

export function newSessionRef(): string {
  return `fps_${randomBytes(16).toString('base64url')}`;
}

/** The same session recorded twice with different facts: a bug of the caller. */
export class CreatedSessionConflictError extends FlowPilotError {
  override name = 'CreatedSessionConflictError';
}

/** Records a session FlowPilot created; recording the same facts again is harmless. */
export async function recordCreatedSession(
  store: Pick<CheckoutSessionStore, 'put' | 'get'>,
  input: {
    sessionId: string;
    ref: string;
    customerId: string;
    purpose: CreatedSessionPurpose;
    now: Date;
  },
): Promise<CreatedSession> {
  const rec: CreatedSession = {
    sessionId: input.sessionId,
    ref: input.ref,
    customerId: checkCustomerId(input.customerId),
    purpose: input.purpose,
    createdAt: input.now.toISOString(),
  };
  if (await store.put(rec)) return rec;
  const existing = await store.get(rec.sessionId);
  if (
    existing?.ref === rec.ref &&
    existing.customerId === rec.customerId &&
    existing.purpose === rec.purpose
  ) {
    return existing;
  }
  throw new CreatedSessionConflictError(
    `Checkout Session ${rec.sessionId} is already recorded with other facts`,
  );
}

/**
 * Why a paid session may not save a card for `customerId`, or undefined when FlowPilot
 * created it for that customer to turn auto top-up on.
 */
export function notCreatedFor(
  rec: CreatedSession | undefined,
  session: { ref?: string; customerId: string },
): string | undefined {
  if (!session.ref || !rec) return 'the session was not created by FlowPilot';
  if (rec.ref !== session.ref) return `the session's ${FLOWPILOT_SESSION_KEY} is not FlowPilot's`;
  if (rec.customerId !== session.customerId) {
    return `the session was created for customer ${rec.customerId}, not ${session.customerId}`;
  }
  if (rec.purpose !== 'autotopup') return 'the session was created for a purchase only';
  return undefined;
}

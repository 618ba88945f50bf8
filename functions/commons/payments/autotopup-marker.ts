/**
 * Metadata FlowPilot puts on the off-session PaymentIntents it creates for auto top-up. Only
 * those are credited from `payment_intent.succeeded`: a Checkout payment emits the same event
 * for its own PaymentIntent and is credited through its session, so crediting it here too
 * would credit it twice.
 */
export const AUTO_TOPUP_MARKER = { key: 'flowpilot', value: 'autotopup' } as const;

// What the rest of FlowPilot uses from alerting.

export { type DigestDeps, type DigestOutcome, sendDigestIfDue } from './digest.ts';
export type { AlertChange, AlertStatePort } from './engine.ts';
export { type AlertDeps, type EvaluationResult, evaluateAfterTotalsPoll } from './evaluate.ts';
export { AlertEventSink, type AlertEventSinkDeps } from './events.ts';
export { burnFromDays, type TotalsPollInput, type TotalsPollOutcome } from './rules.ts';
export type { AlertState, AlertStatus, NoticeKind, PoolBurn, RuleId, Severity } from './types.ts';
export { createAlerting, SNS_TOPIC_ENV } from './wiring.ts';

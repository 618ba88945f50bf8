import type { ProviderId } from './types.ts';

/**
 * The least a webhook key must be before FlowPilot verifies anything with it. A placeholder,
 * a typo or a key split into short pieces would otherwise make forged events cheap to guess;
 * with such a key the provider is disabled (404) until someone puts a real one.
 */
const RULES: Readonly<Record<ProviderId, { test: (key: string) => boolean; want: string }>> = {
  // Stripe's endpoint secrets are `whsec_` and at least 32 alphanumerics.
  stripe: {
    test: (key) => /^whsec_[A-Za-z0-9_]{16,}$/.test(key),
    want: 'Stripe signing secrets start with whsec_ and have at least 16 characters after it',
  },
  // Standard Webhooks: `whsec_` then base64 of 24 to 64 random bytes.
  standard: {
    test: (key) => {
      const b64 = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(key)?.[1];
      const bytes = b64 ? Buffer.from(b64, 'base64').length : 0;
      return bytes >= 24 && bytes <= 64;
    },
    want: 'Standard Webhooks secrets are whsec_ then base64 of 24 to 64 bytes',
  },
  epay: {
    test: (key) => key.length >= 16,
    want: 'epay merchant keys have at least 16 characters',
  },
};

/** A secret may hold several keys while one is rotated, separated by whitespace only. */
export function splitSecrets(value: string | undefined): string[] {
  return (value ?? '').split(/\s+/).filter((s) => s !== '');
}

/**
 * Why the provider's keys cannot be used, or undefined when every one can. Never quotes a
 * key: only how many there are and which position fails.
 */
export function keyProblem(provider: ProviderId, keys: readonly string[]): string | undefined {
  if (keys.length === 0) return 'no key is set';
  const rule = RULES[provider];
  const bad = keys.flatMap((key, i) => (rule.test(key) ? [] : [i + 1]));
  if (bad.length === 0) return undefined;
  return `key ${bad.join(', ')} of ${keys.length} is unusable: ${rule.want}`;
}

export interface CheckedKeys {
  keys: readonly string[];
  /** Why they cannot be used (see `keyProblem`), or undefined. */
  problem: string | undefined;
}

/** The last secret value checked per provider: every delivery reads the same one. */
const lastChecked = new Map<ProviderId, { value: string | undefined; checked: CheckedKeys }>();

/**
 * The keys of a provider's secret value and their problem, worked out again only when the
 * value differs from the last one seen (a rotation), never served for another value.
 */
export function checkedKeys(provider: ProviderId, value: string | undefined): CheckedKeys {
  const hit = lastChecked.get(provider);
  if (hit !== undefined && hit.value === value) return hit.checked;
  const keys = Object.freeze(splitSecrets(value));
  const checked = { keys, problem: keyProblem(provider, keys) };
  lastChecked.set(provider, { value, checked });
  return checked;
}

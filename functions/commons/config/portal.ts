import { z } from 'zod';

/** The customer page (`/portal/…`) and the signed links that open it. */
export const portalSchema = z.strictObject({
  /**
   * Where customers reach the page, without the `/portal` path: the HTTP API's URL or a
   * custom domain in front of it. Links are built from it; absent, the CLI uses the running
   * local runtime's address.
   */
  baseUrl: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .transform((u) => u.replace(/\/+$/, ''))
    .optional(),
  /** How long a link printed by `flowpilot customer link` stays valid, unless `--days` says. */
  linkDays: z.int().min(1).max(90).default(30),
  /** Lifetime of the session a link opens: hours, not days. */
  sessionHours: z.int().min(1).max(24).default(8),
  /** Requests per minute of one customer, and of one source address, before 429. */
  rateLimit: z
    .strictObject({
      perCustomerPerMinute: z.int().min(5).max(10_000).default(60),
      perAddressPerMinute: z.int().min(5).max(10_000).default(120),
    })
    .prefault({}),
});

export type PortalConfig = z.infer<typeof portalSchema>;

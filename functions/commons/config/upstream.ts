import { z } from 'zod';
import { DEFAULT_UPSTREAM_ZONE } from '../units.ts';

const timeZone = z.string().refine(
  (zone) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: zone });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be an IANA time zone such as Asia/Shanghai' },
);

export const upstreamSchema = z.strictObject({
  /** Base of every endpoint; `/open/dynamic/...` and `/api/agent/...` hang off it. */
  baseUrl: z
    .url({ protocol: /^https?$/, message: 'must be an http(s) URL' })
    .default('http://user.ipweb.cc/prod-api'),
  /** The upstream's calendar: day boundaries and zone-less timestamps are read in it. */
  timeZone: timeZone.default(DEFAULT_UPSTREAM_ZONE),
  /** Per-request timeout; callers may bound it further by the Lambda's remaining time. */
  timeoutMs: z.int().min(100).max(60_000).default(10_000),
  retry: z
    .strictObject({
      attempts: z.int().min(1).max(10).default(4),
      baseDelayMs: z.int().min(0).max(10_000).default(200),
      maxDelayMs: z.int().min(0).max(60_000).default(3_000),
    })
    .prefault({}),
});

export type UpstreamConfig = z.infer<typeof upstreamSchema>;

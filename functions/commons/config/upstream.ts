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
  /**
   * Base of every endpoint; `/open/dynamic/...` and `/api/agent/...` hang off it. The vendor's
   * documentation shows http://; https is the default so that the token is never sent in
   * clear unless `allowInsecureHttp` says so.
   */
  baseUrl: z
    .url({ protocol: /^https?$/, message: 'must be an http(s) URL' })
    .default('https://user.ipweb.cc/prod-api')
    .describe('Base of every endpoint; `/open/dynamic/...` and `/api/agent/...` hang off it.'),
  /**
   * Accept an http:// `baseUrl` for the real upstream, knowing that the token and every
   * answer cross the network in clear. Synth and `npm start` refuse http:// without it.
   */
  allowInsecureHttp: z
    .boolean()
    .default(false)
    .describe('Accept an http:// `baseUrl`, knowing that the token crosses the network in clear.'),
  timeZone: timeZone
    .default(DEFAULT_UPSTREAM_ZONE)
    .describe("The upstream's calendar: day boundaries and zone-less timestamps are read in it."),
  timeoutMs: z
    .int()
    .min(100)
    .max(60_000)
    .default(10_000)
    .describe("Per-request timeout; callers may bound it further by the Lambda's remaining time."),
  retry: z
    .strictObject({
      attempts: z
        .int()
        .min(1)
        .max(10)
        .default(4)
        .describe('Attempts per request, the first included.'),
      baseDelayMs: z
        .int()
        .min(0)
        .max(10_000)
        .default(200)
        .describe('First retry delay; doubles with each attempt.'),
      maxDelayMs: z.int().min(0).max(60_000).default(3_000).describe('Longest retry delay.'),
    })
    .prefault({})
    .describe('Retries of failed upstream requests (with backoff).'),
});

export type UpstreamConfig = z.infer<typeof upstreamSchema>;

import { z } from 'zod';

/**
 * Keys of `customers` owned by the balance computation (poll-customers).
 *
 * `usageCounts`: which flowReport figures a customer's traffic is charged from. The reference
 * does not say what the vendor deducts from a customer's balance; FlowPilot assumes upload
 * plus download (both are proxied traffic), and an agent whose vendor bills otherwise says so.
 */
export const customerBalanceConfigShape = {
  usageCounts: z
    .enum(['upload+download', 'download', 'upload'])
    .default('upload+download')
    .describe("Which flowReport figures a customer's usage counts."),
  recordsPageSize: z
    .int()
    .min(10)
    .max(1000)
    .default(1000)
    .describe('Records asked per myRechargeFlowList call; the reference documents no maximum.'),
  /**
   * Days of stored usage read per step of the balance pass. A steady run reads two days; the
   * backfill writes every customer once a step, so longer steps mean fewer writes and more
   * memory (about 10,000 rows a day held at once for 10,000 customers).
   */
  usageDaysPerStep: z
    .int()
    .min(1)
    .max(31)
    .default(14)
    .describe('Days of stored usage read per step of the balance pass.'),
  lowList: z
    .strictObject({
      gb: z
        .number()
        .min(0)
        .default(1)
        .describe('Balance at or under this many GB lists a customer as low.'),
      daysLeft: z
        .number()
        .min(0)
        .default(3)
        .describe('Days left at or under this lists a customer as low.'),
    })
    .prefault({})
    .describe('Who `flowpilot customers --low` and the status page list as running low.'),
};

const customerBalancesSchema = z.strictObject(customerBalanceConfigShape);
export type CustomerBalancesConfig = z.infer<typeof customerBalancesSchema>;

import { z } from 'zod';
import { customerBalanceConfigShape } from './customer-balances.ts';
import { customerNoticesConfigShape } from './customer-notices.ts';

/** Per-customer balances and the notices sent to customers, one section. */
export const customersSchema = z.strictObject({
  ...customerBalanceConfigShape,
  ...customerNoticesConfigShape,
});

export type CustomersConfig = z.infer<typeof customersSchema>;

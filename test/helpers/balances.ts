import type { Decimal } from 'decimal.js';
import type { CustomerBalance } from '../../functions/commons/customers/types.ts';
import { gbToMb } from '../../functions/commons/units.ts';

/** A balance of `gb` GB with no burn, no days left and no credit yet; `over` sets the rest. */
export function customerBalance(
  customerId: string,
  gb: Decimal.Value,
  asOf: Date | string,
  over: Partial<CustomerBalance> = {},
): CustomerBalance {
  return {
    customerId,
    balanceMb: gbToMb(gb).toFixed(),
    burn1dMb: null,
    burn7dMb: null,
    daysLeft: null,
    lastCreditMb: null,
    lastCreditAt: null,
    asOf: typeof asOf === 'string' ? asOf : asOf.toISOString(),
    ...over,
  };
}

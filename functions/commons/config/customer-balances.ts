/** Keys of `customers` owned by the balance computation. */
export const customerBalanceConfigShape = {};

/** Keys of `customers` owned by the customer notices. */
export const customerNoticesConfigShape = {};

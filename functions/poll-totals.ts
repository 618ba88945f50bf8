// Placeholder entry point, replaced by the work that owns this function.
export const handler = async (): Promise<never> => {
  throw new Error('poll-totals is not built yet');
};

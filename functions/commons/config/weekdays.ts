/** Days of a maintenance window, Monday first; kept apart from the schema so code can use them without zod. */
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

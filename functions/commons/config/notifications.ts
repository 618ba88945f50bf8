import { z } from 'zod';

export const notificationsSchema = z.strictObject({
  /** Subscribed to every alert. */
  emails: z.array(z.email({ message: 'must be an email address' })).default([]),
  /** E.164 numbers; subscribed to critical alerts only. */
  phoneNumbers: z
    .array(z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 phone number like +15551234567'))
    .default([]),
});

export type NotificationsConfig = z.infer<typeof notificationsSchema>;

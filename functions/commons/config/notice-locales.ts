/** Languages customer notices are written in; apart from the schema so code can use them without zod. */
export const NOTICE_LOCALES = ['en', 'zh-CN'] as const;
export type NoticeLocale = (typeof NOTICE_LOCALES)[number];

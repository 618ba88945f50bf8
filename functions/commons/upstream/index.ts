export * from './client.ts';
export * from './errors.ts';
export * from './paginate.ts';
export type * from './types.ts';

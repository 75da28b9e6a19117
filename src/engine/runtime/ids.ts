import { monotonicFactory } from 'ulidx';

/**
 * ULIDs: URL-safe, opaque, and sortable by creation (monotonic within the same millisecond),
 * so "newest first" is `order by id desc` and claiming oldest-first is `order by id`.
 */
export const newId: () => string = monotonicFactory();

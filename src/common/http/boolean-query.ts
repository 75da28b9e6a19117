import { Transform } from 'class-transformer';

/** Query strings are text: accept exactly 'true'/'false' and leave anything else for IsBoolean to reject. */
export const BooleanQuery = () =>
  Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value), { toClassOnly: true });

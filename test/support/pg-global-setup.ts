import { PG_ADMIN_URL, pgAdmin } from './postgres';

/** The PostgreSQL leg fails loudly, never skips, when there is no PostgreSQL to run on. */
export default async function setup(): Promise<void> {
  try {
    await pgAdmin((c) => c.query('select 1'));
  } catch (error) {
    const where = new URL(PG_ADMIN_URL);
    where.password = '';
    throw new Error(
      `The PostgreSQL test leg needs a PostgreSQL server at ${where.host} (user ${where.username}, database ${where.pathname.slice(1)}), ` +
        `reachable with trust auth; it is unreachable: ${(error as Error).message}. Start PostgreSQL or set AUTOKESTRA_TEST_PG_URL.`,
    );
  }
}

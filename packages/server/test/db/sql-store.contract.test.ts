// The sql-store contract on embedded PGlite; on PostgreSQL: sql-store.contract.int.test.ts.
import { sqlStoreContract } from './sql-store.contract.ts';

sqlStoreContract('pglite');

// The mail-store contract on embedded PGlite; on PostgreSQL: mail-store.contract.int.test.ts.
import { mailStoreContract } from './mail-store.contract.ts';

mailStoreContract('pglite');

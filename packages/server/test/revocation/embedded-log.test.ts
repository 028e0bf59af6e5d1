// The embedded revocation log on PGlite; on PostgreSQL: embedded-log.int.test.ts.
import { embeddedLogContract } from './embedded-log.contract.ts';

embeddedLogContract('pglite');

// The embedded revocation log on PostgreSQL; on PGlite: embedded-log.test.ts.
import { embeddedLogContract } from './embedded-log.contract.ts';

embeddedLogContract('postgres');

import type { AuthService } from '../auth-service.ts';
import type { Config } from '../config.ts';
import type { Db } from '../db/db.ts';
import type { KeyStore } from '../keys/key-store.ts';
import type { Denylist } from '../revocation/denylist.ts';
import type { VerifyBearer } from '../tokens/bearer.ts';

/** What route plugins receive: the services, never a store or a connection to query. */
export interface RouteDeps {
  config: Config;
  auth: AuthService;
  verifyBearer: VerifyBearer;
  keys: KeyStore;
  /** For readiness only. */
  db: Db;
  denylist: Denylist;
}

// Setup file of the unit layer: the guard against PostgreSQL, Redis and child processes, and
// this worker's embedded PGlite started here, once, rather than in the first test file's
// beforeAll (where, on a busy machine, booting the WASM database could exceed the hook timeout).
import './unit-guard.ts';
import { warmPglite } from '../../packages/server/test/helpers/db.ts';

await warmPglite();

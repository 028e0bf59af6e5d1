// Removes every key under a test's Redis prefix: the denylist entries and the revocation
// feed's stream alike (never FLUSHALL: other suites share the server).
import { adminClient, deleteKeys } from '../../packages/server/test/revocation/redis-kit.ts';

export async function deletePrefix(prefix: string): Promise<void> {
  const admin = adminClient();
  try {
    await deleteKeys(admin, prefix);
  } finally {
    admin.disconnect();
  }
}

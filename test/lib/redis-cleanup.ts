// Removes every key under a test's Redis prefix: the denylist entries and the revocation
// feed's stream alike (never FLUSHALL: other suites share the server).
import { adminClient } from '../../packages/server/test/revocation/redis-kit.ts';

export async function deletePrefix(prefix: string): Promise<void> {
  const admin = adminClient();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await admin.del(...keys);
    } while (cursor !== '0');
  } finally {
    admin.disconnect();
  }
}

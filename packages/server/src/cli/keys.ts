import { systemClock } from '../clock.ts';
import { readKeyFiles } from '../keys/key-files.ts';
import { KeyStore } from '../keys/key-store.ts';
import { keyStates, pruneExpiredKeys, retiredKeyGraceSeconds as grace, rotateKeys, RotationPendingError } from '../keys/rotation.ts';
import { createLogger } from '../logger.ts';
import { UsageError, type Command } from './command.ts';


export const keysCommand: Command = async ([sub, ...rest], config, io, flags) => {
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  const now = systemClock.now();
  switch (sub) {
    case 'generate': {
      const before = (await readKeyFiles(config.keysDir).catch(() => [])).length;
      const store = await KeyStore.open({
        dir: config.keysDir,
        modulusLength: config.keySize,
        clock: systemClock,
        logger: createLogger('silent'),
        retiredKeyGraceSeconds: grace(config.accessTokenTtl),
      });
      const kid = store.signingKey().kid;
      io.out(before === 0 ? `generated key ${kid} in ${config.keysDir}` : `keys/ already has a signing key (${kid}); nothing to do`);
      return;
    }
    case 'rotate': {
      try {
        // Lead time: every verifier's cached JWKS has expired (JWKS_MAX_AGE) and every replica
        // has re-read keys/ (KEYS_RELOAD_INTERVAL) before the first token is signed with it.
        const lead = config.jwksMaxAge + config.keysReloadInterval + 5;
        const { added, retires } = await rotateKeys(config.keysDir, {
          modulusLength: config.keySize,
          now,
          publishLeadSeconds: lead,
          retiredGraceSeconds: grace(config.accessTokenTtl),
        });
        createLogger('info').info({ event: 'key.rotated', kid: added.meta.kid, retires, activates_at: added.meta.activates_at }, 'key rotated');
        io.out(`added key ${added.meta.kid}: published now, signs from ${added.meta.activates_at}`);
        if (retires) io.out(`key ${retires} stops signing then and stays published until its tokens have expired`);
      } catch (err) {
        if (err instanceof RotationPendingError) throw new Error(err.message);
        throw err;
      }
      return;
    }
    case 'list': {
      const keys = await readKeyFiles(config.keysDir, (s) => io.err(`warning: ignoring ${s.file} in ${config.keysDir}: ${s.reason}`));
      const states = keyStates(keys.map((k) => k.meta), now, grace(config.accessTokenTtl));
      if (flags.json) {
        io.out(JSON.stringify(states.map((s) => ({ ...s.meta, state: s.state, unpublish_at: s.unpublishAt ?? null }))));
        return;
      }
      io.out('KID                                          STATE     ACTIVATES_AT              RETIRED_AT');
      for (const s of states) {
        io.out(`${s.meta.kid.padEnd(44)} ${s.state.padEnd(9)} ${s.meta.activates_at.padEnd(25)} ${s.meta.retired_at ?? '-'}`);
      }
      return;
    }
    case 'prune': {
      const removed = await pruneExpiredKeys(config.keysDir, now, grace(config.accessTokenTtl));
      io.out(removed.length === 0 ? 'no expired keys' : `deleted ${removed.join(', ')}`);
      return;
    }
    default:
      throw new UsageError(sub ? `unknown keys command "${sub}"` : 'keys needs a command');
  }
};

// What a suite needs from this machine, and the ONE place that decides what happens when it is
// missing: outside CI the suite is skipped and its reason and remedy are recorded for the
// summary printed at the end of the run (skip-summary.ts); under CI (any non-empty CI) it fails,
// because CI must run every suite.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findNginx } from '../../scripts/cluster/nginx.ts';

/** The environment variable naming the directory the run's skip records go to (set by vitest.config.ts). */
export const SKIP_DIR_VAR = 'TESSERA_SKIP_DIR';

/** Is this a CI run? Any non-empty CI counts (CI=1, CI=true, CI=yes): read here only. */
export function inCI(): boolean {
  return (process.env.CI ?? '') !== '';
}

export interface Missing {
  /** What is missing, e.g. "nginx not installed". */
  reason: string;
  /** How to get it, e.g. "apt-get install nginx". */
  remedy: string;
}

/** Answers undefined when the requirement is met, otherwise what is missing. Checked once per suite. */
export type Requirement = () => Missing | undefined;

export interface SkipRecord extends Missing {
  file: string;
  suite: string;
}

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const REDIS_SERVER_BIN = '/usr/bin/redis-server';
export const REDIS_SENTINEL_BIN = '/usr/bin/redis-sentinel';
export const REDIS_CLI_BIN = '/usr/bin/redis-cli';
export const PYTHON = '/usr/bin/python3';

export const nginx: Requirement = () => (findNginx() ? undefined : { reason: 'nginx not installed', remedy: 'apt-get install nginx' });

export const chromium: Requirement = () =>
  fs.existsSync(CHROMIUM_PATH) ? undefined : { reason: `Chromium not installed (no ${CHROMIUM_PATH})`, remedy: 'apt-get install chromium, or set CHROMIUM_PATH' };

export const redisServer: Requirement = () => (fs.existsSync(REDIS_SERVER_BIN) ? undefined : { reason: `redis-server not installed (${REDIS_SERVER_BIN})`, remedy: 'apt-get install redis-server' });

export const redisSentinel: Requirement = () =>
  [REDIS_SERVER_BIN, REDIS_SENTINEL_BIN].every((bin) => fs.existsSync(bin))
    ? undefined
    : { reason: `redis-sentinel not installed (${REDIS_SERVER_BIN} and ${REDIS_SENTINEL_BIN})`, remedy: 'apt-get install redis-server redis-sentinel' };

/** redis-server for the nodes, redis-cli to join them (`--cluster create`). */
export const redisCluster: Requirement = () =>
  [REDIS_SERVER_BIN, REDIS_CLI_BIN].every((bin) => fs.existsSync(bin))
    ? undefined
    : { reason: `redis-server or redis-cli not installed (${REDIS_SERVER_BIN}, ${REDIS_CLI_BIN})`, remedy: 'apt-get install redis-server (redis-tools)' };

export const pythonJwt: Requirement = () =>
  spawnSync(PYTHON, ['-c', 'import jwt, cryptography'], { stdio: 'ignore' }).status === 0
    ? undefined
    : { reason: `PyJWT not installed for ${PYTHON}`, remedy: 'apt-get install python3-jwt python3-cryptography' };

/** The lab's Flask rows (lab/apps/flask_app.py): Flask, Flask-Session and its Redis and memcached clients, from Debian. */
export const pythonFlask: Requirement = () =>
  spawnSync(PYTHON, ['-c', 'import flask, flask_session, redis, pymemcache'], { stdio: 'ignore' }).status === 0
    ? undefined
    : { reason: `Flask, Flask-Session, redis or pymemcache not importable by ${PYTHON}`, remedy: 'apt-get install python3-flask python3-flask-session python3-redis python3-pymemcache' };

export const MEMCACHED_BIN = '/usr/bin/memcached';

export const memcached: Requirement = () => (fs.existsSync(MEMCACHED_BIN) ? undefined : { reason: `memcached not installed (${MEMCACHED_BIN})`, remedy: 'apt-get install memcached' });

/** The first unmet requirement, if any. */
export function firstMissing(requirements: Requirement[]): Missing | undefined {
  for (const requirement of requirements) {
    const missing = requirement();
    if (missing) return missing;
  }
  return undefined;
}

function record(entry: SkipRecord): void {
  const dir = process.env[SKIP_DIR_VAR];
  if (!dir) return;
  fs.mkdirSync(dir, { recursive: true });
  fs.appendFileSync(path.join(dir, `${process.pid}.jsonl`), `${JSON.stringify(entry)}\n`);
}

type SuiteBody = () => void;

/**
 * `describe`, when every requirement is met. Otherwise, outside CI, a skipped describe whose
 * reason and remedy end up in the run's skip summary; under CI, a describe with one failing
 * test that says what is missing (its body is not run: it would only fail less clearly).
 */
export function skipUnless(...requirements: Requirement[]): (title: string, body: SuiteBody) => void {
  const missing = firstMissing(requirements);
  return (title, body) => {
    if (!missing) return describe(title, body);
    if (inCI()) {
      return describe(title, () => {
        it(`has what it needs (${missing.reason})`, () => {
          throw new Error(`${missing.reason} — ${missing.remedy} (CI is set: CI must run every suite)`);
        });
      });
    }
    const testPath = expect.getState().testPath ?? '';
    record({ file: path.relative(process.cwd(), testPath), suite: title, ...missing });
    return describe.skip(title, body);
  };
}

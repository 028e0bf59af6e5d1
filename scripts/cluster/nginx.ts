// The local cluster's nginx: renders deploy/nginx.cluster.conf.template into a prefix folder.
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../lib/node-script.ts';

export const DEPLOY_DIR = path.join(REPO_ROOT, 'deploy');
export const TEMPLATE_PATH = path.join(DEPLOY_DIR, 'nginx.cluster.conf.template');
export const PROXY_CONF_PATH = path.join(DEPLOY_DIR, 'nginx-proxy.conf');

export interface NginxConfOptions {
  /** Folder for the pid file, logs and temp files (nginx's -p prefix). */
  prefix: string;
  /** `host:port` nginx listens on. */
  listen: string;
  /** `host:port` of every replica. */
  upstreams: string[];
  /** Write an access log into the prefix (off by default: the load test would fill it). */
  accessLog?: boolean;
}

/** The config text for the given prefix, listen address and replicas. */
export function renderNginxConf(options: NginxConfOptions): string {
  const values: Record<string, string> = {
    PREFIX: options.prefix,
    LISTEN: options.listen,
    ACCESS_LOG: options.accessLog ? path.join(options.prefix, 'access.log') : 'off',
    PROXY_CONF: PROXY_CONF_PATH,
    SERVERS: options.upstreams.map((u) => `        server ${u} max_fails=1 fail_timeout=2s;`).join('\n'),
  };
  const text = fs.readFileSync(TEMPLATE_PATH, 'utf8').replace(/\{\{([A-Z_]+)\}\}/g, (whole, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`unknown placeholder ${whole} in ${TEMPLATE_PATH}`);
    return value;
  });
  return text;
}

/** Renders the config into `<prefix>/nginx.conf` and returns its path. */
export function writeNginxConf(options: NginxConfOptions): string {
  fs.mkdirSync(options.prefix, { recursive: true });
  const file = path.join(options.prefix, 'nginx.conf');
  fs.writeFileSync(file, renderNginxConf(options));
  return file;
}

/** Debian installs nginx in /usr/sbin, which is not on every user's PATH. */
export function findNginx(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, 'nginx');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

// The nginx configs of the deployment through the real `nginx -t`: the generated local-cluster
// config and deploy/nginx.conf as docker compose mounts it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { findNginx, PROXY_CONF_PATH, renderNginxConf, writeNginxConf } from '../../../../scripts/cluster/nginx.ts';
import { nginx, skipUnless } from '../../../../test/lib/requirements.ts';
import { REPO_ROOT as ROOT } from '../helpers/process.ts';

const nginxConf = fs.readFileSync(path.join(ROOT, 'deploy/nginx.conf'), 'utf8');

// Skipped without nginx on a developer's machine (see the skip summary); CI installs it and must run this.
skipUnless(nginx)('nginx -t', () => {
  const nginxBin = findNginx();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-nginx-t-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  /** Runs `nginx -t`; returns its output, throws with it on failure. */
  const nginxTest = (conf: string, prefix: string): string => {
    // A file, not a pipe, for its output: Node's pipes are sockets, and nginx cannot
    // open() /dev/stderr (deploy/nginx.conf logs there) when it is a socket.
    const outFile = path.join(prefix, 'nginx-t.out');
    const fd = fs.openSync(outFile, 'w');
    try {
      execFileSync(nginxBin!, ['-t', '-c', conf, '-p', prefix, '-e', path.join(prefix, 'error.log')], { stdio: ['ignore', fd, fd] });
    } catch {
      throw new Error(`nginx -t failed:\n${fs.readFileSync(outFile, 'utf8')}`);
    } finally {
      fs.closeSync(fd);
    }
    return fs.readFileSync(outFile, 'utf8');
  };

  it('accepts the generated local-cluster config', () => {
    const prefix = path.join(dir, 'local');
    const conf = writeNginxConf({ prefix, listen: '127.0.0.1:18080', upstreams: ['127.0.0.1:13001', '127.0.0.1:13002', '127.0.0.1:13003'] });
    expect(fs.readFileSync(conf, 'utf8')).not.toMatch(/\{\{/);
    expect(renderNginxConf({ prefix, listen: 'x', upstreams: ['a:1', 'b:2'] })).toMatch(/server a:1 [^;]*;\s*server b:2 [^;]*;/);
    expect(nginxTest(conf, prefix)).toMatch(/test is successful/);
  });

  it('accepts deploy/nginx.conf', () => {
    // The replicas' hostnames (tessera-1…) only resolve inside the compose network and
    // nginx resolves upstream names while it tests: the copy points them at 127.0.0.1,
    // and the include at this checkout's nginx-proxy.conf. Nothing else is changed.
    const prefix = path.join(dir, 'compose');
    fs.mkdirSync(prefix, { recursive: true });
    const copy = nginxConf
      .replace(/server tessera-\d+:3000/g, 'server 127.0.0.1:3000')
      .replace('include /etc/nginx/nginx-proxy.conf;', `include ${PROXY_CONF_PATH};`)
      .replace('pid /tmp/nginx.pid;', `pid ${path.join(prefix, 'nginx.pid')};`);
    const conf = path.join(prefix, 'nginx.conf');
    fs.writeFileSync(conf, copy);
    expect(nginxTest(conf, prefix)).toMatch(/test is successful/);
  });
});

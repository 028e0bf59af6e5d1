// The documentation is part of the product: every environment variable the config schema
// reads is documented in the table of docs/operate/configuration.md, with a default; the
// integration pages say what openapi.yaml says; and the two commands the README promises exist.
// (Links and the README's size: test/docs/links.test.ts.)
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { envSchema, loadConfig } from '../src/config.ts';
import { OPENAPI_PATH } from '../src/http/routes/docs.ts';
import { tempDir } from './helpers/app.ts';
import { REPO_ROOT as ROOT } from './helpers/process.ts';

const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
// The variable table: rows are `| \`NAME\` | default | meaning |`.
const configuration = fs.readFileSync(path.join(ROOT, 'docs/operate/configuration.md'), 'utf8');
const mobile = fs.readFileSync(path.join(ROOT, 'docs/integrate/mobile.md'), 'utf8');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

describe('docs/operate/configuration.md', () => {
  it.each(Object.keys(envSchema.shape))('documents %s in the configuration table', (name) => {
    const row = configuration.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
    expect(row, `no configuration table row for ${name}`).toBeDefined();
    expect(row!.split('|').length).toBeGreaterThanOrEqual(5);
  });

  it('documents no variable the schema does not read', () => {
    const documented = [...configuration.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((m) => m[1]!);
    const known = new Set([...Object.keys(envSchema.shape), 'DATABASE_URL', 'REDIS_URL']);
    expect(documented.filter((name) => !known.has(name))).toEqual([]);
  });

  it('states the defaults the schema really has for numbers', () => {
    const config = loadConfig({ KEYS_DIR: tempDir() });
    const row = (name: string) => configuration.split('\n').find((line) => line.startsWith(`| \`${name}\` |`)) ?? '';
    expect(row('PORT')).toContain(`\`${config.port}\``);
    expect(row('ACCESS_TOKEN_TTL')).toContain(`\`${config.accessTokenTtl}\``);
    expect(row('REFRESH_GRACE_PERIOD')).toContain(`\`${config.refreshGracePeriod}\``);
    expect(row('ARGON2_MEMORY_KIB')).toContain(`\`${config.argon2.memoryCost}\``);
    expect(row('BODY_LIMIT')).toContain(`\`${config.bodyLimit}\``);
  });
});

describe('docs/integrate/mobile.md', () => {
  it('tells mobile apps about remember, as openapi.yaml does (without it a session ends after 24 h)', () => {
    expect(mobile).toContain('"remember": true');
    expect(mobile).toContain('REFRESH_SHORT_TTL');
    expect(mobile).toContain('REFRESH_IDLE_TTL');
    const spec = parse(fs.readFileSync(OPENAPI_PATH, 'utf8')) as {
      components: { schemas: { LoginRequest: { properties: { remember: { description: string } } } } };
    };
    const remember = spec.components.schemas.LoginRequest.properties.remember.description;
    for (const text of ['REFRESH_SHORT_TTL', 'REFRESH_IDLE_TTL', 'REFRESH_ABSOLUTE_TTL', 'Mobile apps']) expect(remember).toContain(text);
  });
});

describe('README.md', () => {
  it('shows the two commands, and they exist', () => {
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm test');
    expect(pkg.scripts.start).toBeDefined();
    expect(pkg.scripts.test).toBeDefined();
    // CI runs the README's test command.
    expect(fs.readFileSync(path.join(ROOT, '.ci/run'), 'utf8')).toMatch(/^npm test$/m);
  });

  it('shows, in the curl walk-through, every field of the user that openapi.yaml requires', () => {
    const spec = parse(fs.readFileSync(OPENAPI_PATH, 'utf8')) as { components: { schemas: { User: { required: string[] } } } };
    const shown = readme.split('\n').filter((line) => line.startsWith('# → {"id":'));
    expect(shown.length).toBeGreaterThanOrEqual(2); // register and /auth/me
    for (const line of shown) for (const field of spec.components.schemas.User.required) expect(line).toContain(`"${field}":`);
  });

  it('captures the tokens it uses in the curl walk-through', () => {
    expect(readme).toMatch(/^ACCESS_TOKEN=\$\(/m);
    expect(readme).toMatch(/^REFRESH_TOKEN=\$\(/m);
  });
});

describe('docs/testing.md', () => {
  it('names every system package .ci/run installs', () => {
    const ci = fs.readFileSync(path.join(ROOT, '.ci/run'), 'utf8');
    const installed = [...ci.matchAll(/need_apt\+=\(([a-z0-9.+-]+)\)/g)].map((m) => m[1]!);
    expect(installed.length).toBeGreaterThan(0);
    const line = fs.readFileSync(path.join(ROOT, 'docs/testing.md'), 'utf8').split('\n').find((l) => l.startsWith('apt-get install ')) ?? '';
    expect(line.split(' ').slice(2).sort()).toEqual([...installed].sort());
  });
});

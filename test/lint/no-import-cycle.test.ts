// `npm run lint` fails on an import cycle, `import type` included (issue 20). Two halves:
// the repository's ESLint configuration turns the rule on for every file it lints, and the
// rule finds cycles — in small fixtures written to a temporary directory, and in the real
// source tree, through the same `.ts` imports and tsconfig the code uses.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ESLint, type Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/lib/node-script.ts';
import noImportCycle from '../../scripts/lint/no-import-cycle.js';

/** Only the cycle rule, so no type information (and no TypeScript program) is built. */
const ruleOnly: Linter.Config[] = [
  {
    files: ['**/*.ts', '**/*.js'],
    languageOptions: { parser: tseslint.parser },
    plugins: { tessera: { rules: { 'no-import-cycle': noImportCycle } } },
    rules: { 'tessera/no-import-cycle': 'error' },
  },
];

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** Writes `files` into a new temporary directory and lints them all with the rule alone. */
async function lintFixture(files: Record<string, string>) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-cycle-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  const eslint = new ESLint({ cwd: dir, overrideConfigFile: true, overrideConfig: ruleOnly });
  const results = await eslint.lintFiles(['**/*.ts']);
  return Object.fromEntries(
    results.map((r) => [path.relative(dir, r.filePath), r.messages.map((m) => `${m.line}: ${m.message}`)]),
  );
}

describe('the repository configuration', () => {
  it('turns the rule on, as an error, for every kind of code `npm run lint` checks', async () => {
    const eslint = new ESLint({ cwd: REPO_ROOT });
    for (const file of [
      'packages/server/src/config.ts',
      'packages/server/test/config.test.ts',
      'packages/verifier/src/index.ts',
      'packages/client/src/client.ts',
      'scripts/cluster.ts',
      'lab/run.ts',
      'bench/run.ts',
      'examples/resource-service/server.mjs',
      'eslint.config.js',
    ]) {
      expect(fs.existsSync(path.join(REPO_ROOT, file)), file).toBe(true);
      const config = (await eslint.calculateConfigForFile(path.join(REPO_ROOT, file))) as Linter.Config;
      expect(config.rules?.['tessera/no-import-cycle'], file).toEqual([2]);
    }
  });
});

describe('no-import-cycle', () => {
  it('reports every import of a cycle, type-only imports included, with the route', async () => {
    const messages = await lintFixture({
      'a.ts': "import type { B } from './b.ts';\nexport type A = B;\n",
      'b.ts': "import { c } from './c.ts';\nexport type B = typeof c;\n",
      'c.ts': "export { a } from './d.ts';\nexport const c = 1;\n",
      'd.ts': "import type { A } from './a.ts';\nexport const a: A | undefined = undefined;\n",
      'leaf.ts': "import { c } from './c.ts';\nexport const leaf = c;\n",
    });
    expect(messages['a.ts']).toEqual([
      "1: Import cycle: a.ts → b.ts → c.ts → d.ts → a.ts. Move what both sides need into a module that imports neither.",
    ]);
    expect(messages['b.ts']).toHaveLength(1);
    expect(messages['c.ts']).toHaveLength(1);
    expect(messages['d.ts']).toEqual([expect.stringContaining('d.ts → a.ts → b.ts → c.ts → d.ts')]);
    // Importing a module of a cycle is not being in it.
    expect(messages['leaf.ts']).toEqual([]);
  });

  it('counts dynamic imports, `import()` types and tsconfig paths; follows nothing in node_modules', async () => {
    const messages = await lintFixture({
      'tsconfig.json': JSON.stringify({
        compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', allowImportingTsExtensions: true, paths: { '@lib/*': ['./lib/*'] } },
      }),
      'main.ts': "export const load = () => import('@lib/helper.ts');\n",
      'lib/helper.ts': "export type Loader = typeof import('../main.ts').load;\nexport const helper = 1;\n",
      'node_modules/dep/index.ts': "import '../../uses-dep.ts';\nexport const dep = 1;\n",
      'node_modules/dep/package.json': JSON.stringify({ name: 'dep', types: 'index.ts' }),
      'uses-dep.ts': "import { dep } from 'dep';\nexport const usesDep = dep;\n",
    });
    expect(messages['main.ts']).toEqual([expect.stringContaining('main.ts → lib/helper.ts → main.ts')]);
    expect(messages[path.join('lib', 'helper.ts')]).toEqual([expect.stringContaining('lib/helper.ts → main.ts → lib/helper.ts')]);
    expect(messages['uses-dep.ts']).toEqual([]);
  });

  it('passes a tree without cycles', async () => {
    const messages = await lintFixture({
      'a.ts': "import type { B } from './b.ts';\nimport { c } from './c.ts';\nexport const a: B = c;\n",
      'b.ts': "import { c } from './c.ts';\nexport type B = typeof c;\n",
      'c.ts': "import './c.ts';\nexport const c = 1;\n",
    });
    expect(messages).toEqual({ 'a.ts': [], 'b.ts': [], 'c.ts': [] });
  });

  it('finds a cycle a type import would close in the real source tree', async () => {
    // request-context.ts is a leaf that auth-service.ts imports; make it import back.
    const file = path.join(REPO_ROOT, 'packages/server/src/request-context.ts');
    const text = `import type { AuthService } from './auth-service.ts';\n${fs.readFileSync(file, 'utf8')}\nexport type Service = AuthService;\n`;
    const eslint = new ESLint({ cwd: REPO_ROOT, overrideConfigFile: true, overrideConfig: ruleOnly });
    const [result] = await eslint.lintText(text, { filePath: file });
    expect(result!.messages.map((m) => m.message)).toEqual([
      expect.stringContaining(
        'Import cycle: packages/server/src/request-context.ts → packages/server/src/auth-service.ts → packages/server/src/request-context.ts',
      ),
    ]);
    // The file as committed is no part of a cycle.
    const [clean] = await eslint.lintFiles([file]);
    expect(clean!.messages).toEqual([]);
  });
});

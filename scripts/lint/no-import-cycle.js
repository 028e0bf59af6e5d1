// @ts-check
// ESLint rule: no import cycle, type-only imports included.
//
// Why our own rule: eslint-plugin-import(-x)'s `no-cycle` skips `import type` edges and has no
// option to count them, but a type cycle is still two modules that cannot be understood (or
// moved) one without the other — the issue that asked for this check counts them. The graph
// is what TypeScript sees: `ts.preProcessFile` lists every import, export-from, dynamic
// `import()` and `import('…').T`, and `ts.resolveModuleName` resolves them with the nearest
// tsconfig.json (so `.ts` extensions and `paths` resolve as tsc resolves them). Files in
// node_modules are not followed: packages cannot cycle through their published builds.
//
// Other files are read from disk and cached by (mtime, size), so a whole-repository run
// reads each file once; the linted file itself is taken from ESLint (what the editor shows).
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** @typedef {{ specifier: string, pos: number, end: number, resolved: string | undefined }} Edge */

/** @type {Map<string, { mtimeMs: number, size: number, edges: Edge[] }>} */
const fileCache = new Map();
/** @type {Map<string, { options: ts.CompilerOptions, cache: ts.ModuleResolutionCache }>} */
const resolutionByDir = new Map();

const FALLBACK_OPTIONS = {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  allowImportingTsExtensions: true,
  allowJs: true,
};

/** @type {Map<string, { options: ts.CompilerOptions, cache: ts.ModuleResolutionCache }>} */
const resolutionByConfig = new Map();

/** The compiler options of the nearest tsconfig.json above `dir`, and a resolution cache for them. */
function resolutionFor(/** @type {string} */ dir) {
  const cached = resolutionByDir.get(dir);
  if (cached) return cached;
  const configPath = ts.findConfigFile(dir, ts.sys.fileExists) ?? '';
  let result = resolutionByConfig.get(configPath);
  if (!result) {
    let options;
    if (configPath) {
      const read = ts.readConfigFile(configPath, ts.sys.readFile);
      // Only the options matter: `files: []` spares the include globbing.
      const config = { ...read.config, files: [], include: [] };
      options = ts.parseJsonConfigFileContent(config, ts.sys, path.dirname(configPath), undefined, configPath).options;
    }
    const merged = { ...FALLBACK_OPTIONS, ...options };
    const cache = ts.createModuleResolutionCache(configPath ? path.dirname(configPath) : dir, (f) => f, merged);
    result = { options: merged, cache };
    resolutionByConfig.set(configPath, result);
  }
  resolutionByDir.set(dir, result);
  return result;
}

/** The modules `file` imports (any kind of import), resolved to files outside node_modules. */
function edgesOf(/** @type {string} */ file, /** @type {string} */ text) {
  const { options, cache } = resolutionFor(path.dirname(file));
  return ts.preProcessFile(text, true, true).importedFiles.map(({ fileName, pos, end }) => {
    const { resolvedModule } = ts.resolveModuleName(fileName, file, options, ts.sys, cache);
    const resolved =
      resolvedModule && !resolvedModule.isExternalLibraryImport ? path.resolve(resolvedModule.resolvedFileName) : undefined;
    return { specifier: fileName, pos, end, resolved };
  });
}

/** @returns {Edge[]} */
function edgesOnDisk(/** @type {string} */ file) {
  let stat;
  try {
    stat = fs.statSync(file);
  } catch {
    return [];
  }
  const cached = fileCache.get(file);
  if (cached && cached.mtimeMs === stat.mtimeMs && cached.size === stat.size) return cached.edges;
  const edges = /\.(c|m)?(t|j)sx?$/.test(file) ? edgesOf(file, fs.readFileSync(file, 'utf8')) : [];
  fileCache.set(file, { mtimeMs: stat.mtimeMs, size: stat.size, edges });
  return edges;
}

/** The shortest import path from `from` back to `to`, or undefined (breadth-first). */
function pathBack(/** @type {string} */ from, /** @type {string} */ to) {
  /** @type {Map<string, string | null>} */
  const parent = new Map([[from, null]]);
  const queue = [from];
  for (let i = 0; i < queue.length; i++) {
    const current = /** @type {string} */ (queue[i]);
    for (const { resolved } of edgesOnDisk(current)) {
      if (resolved === undefined || parent.has(resolved)) continue;
      parent.set(resolved, current);
      if (resolved === to) {
        const route = [to];
        for (let at = parent.get(to); at; at = parent.get(at)) route.unshift(at);
        return route;
      }
      queue.push(resolved);
    }
  }
  return undefined;
}

/** @type {import('eslint').Rule.RuleModule} */
export default {
  meta: {
    type: 'problem',
    docs: { description: 'Forbid import cycles, type-only imports included.' },
    schema: [],
    messages: { cycle: 'Import cycle: {{route}}. Move what both sides need into a module that imports neither.' },
  },
  create(context) {
    if (context.physicalFilename === '<text>') return {};
    const file = path.resolve(context.physicalFilename);
    const sourceCode = context.sourceCode;
    return {
      Program() {
        const seen = new Set();
        for (const edge of edgesOf(file, sourceCode.text)) {
          if (edge.resolved === undefined || edge.resolved === file || seen.has(edge.resolved)) continue;
          seen.add(edge.resolved);
          const back = pathBack(edge.resolved, file);
          if (!back) continue;
          const route = [file, ...back].map((f) => path.relative(context.cwd, f)).join(' → ');
          context.report({
            loc: { start: sourceCode.getLocFromIndex(edge.pos), end: sourceCode.getLocFromIndex(edge.end) },
            messageId: 'cycle',
            data: { route },
          });
        }
      },
    };
  },
};

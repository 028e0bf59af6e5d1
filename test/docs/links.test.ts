// The documentation is part of the product: the README stays a front door, every relative
// link in README.md and docs/ leads somewhere, and the packages' READMEs (what npm shows,
// outside this repository) link nothing outside their package.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/lib/node-script.ts';

const read = (file: string) => fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');

function markdownFiles(dir: string): string[] {
  return fs.readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) return markdownFiles(rel);
    return entry.name.endsWith('.md') ? [rel] : [];
  });
}

/** Markdown outside fenced code blocks and inline code, where `](…)` is a link. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '``');
}

/** Link targets, `[text](target)`, as written (titles dropped). */
function linkTargets(markdown: string): string[] {
  return [...prose(markdown).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]!);
}

const isExternal = (target: string) => /^[a-z][a-z0-9+.-]*:/i.test(target);

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, -1, -2… for repeats. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const [, heading] of prose(markdown).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const text = heading!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/`/g, '');
    const slug = text.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

/** Every relative link of `file` that does not lead to an existing file (or heading). */
function brokenLinks(file: string): string[] {
  const broken: string[] = [];
  for (const target of linkTargets(read(file))) {
    if (isExternal(target)) continue;
    const [pathPart, anchor] = target.split('#') as [string, string | undefined];
    const resolved = pathPart === '' ? file : path.join(path.dirname(file), decodeURIComponent(pathPart));
    const absolute = path.join(REPO_ROOT, resolved);
    if (!fs.existsSync(absolute)) {
      broken.push(`${target} (no ${resolved})`);
    } else if (anchor && resolved.endsWith('.md') && !anchorsOf(read(resolved)).has(anchor)) {
      broken.push(`${target} (no heading #${anchor} in ${resolved})`);
    }
  }
  return broken;
}

const pages = ['README.md', ...markdownFiles('docs')];

describe('README.md', () => {
  const readme = read('README.md');

  it('is a front door: at most 250 lines', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(250);
  });

  it('links the documentation index and the pages by audience', () => {
    for (const page of ['docs/README.md', 'docs/architecture.md', 'docs/security.md', 'docs/operate/configuration.md', 'docs/install.md']) {
      expect(readme).toContain(`](${page})`);
    }
  });

  it('holds no configuration rows: the variable table lives in docs/operate/configuration.md only', () => {
    expect(readme.split('\n').filter((line) => /^\| `[A-Z][A-Z0-9_]+` \|/.test(line) && !line.includes('default in tests'))).toEqual([]);
  });
});

describe('docs/', () => {
  it('has the pages the README and the index promise', () => {
    expect(pages.length).toBeGreaterThan(15);
  });

  it.each(pages)('every relative link in %s resolves', (file) => {
    expect(brokenLinks(file)).toEqual([]);
  });

  it('every page is reachable from the index (docs/README.md)', () => {
    const index = read('docs/README.md');
    const linked = new Set(linkTargets(index).filter((t) => !isExternal(t)).map((t) => path.join('docs', t.split('#')[0]!)));
    expect(pages.filter((page) => page.startsWith('docs/') && page !== 'docs/README.md' && !linked.has(page))).toEqual([]);
  });
});

describe('package READMEs (what npm shows)', () => {
  const packages = fs.readdirSync(path.join(REPO_ROOT, 'packages'));

  it.each(packages)('packages/%s/README.md links nothing outside its package', (name) => {
    const dir = path.join('packages', name);
    const outside = linkTargets(read(path.join(dir, 'README.md')))
      .filter((target) => !isExternal(target) && !target.startsWith('#'))
      .filter((target) => {
        const resolved = path.join(dir, target.split('#')[0]!);
        return resolved.startsWith('..') || !resolved.startsWith(dir + path.sep) || !fs.existsSync(path.join(REPO_ROOT, resolved));
      });
    expect(outside).toEqual([]);
  });
});

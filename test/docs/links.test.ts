// The docs stand on their own: every relative link in README.md and docs/*.md names a file or
// folder inside this repository, and an anchor names a heading of the file it points into. Links to
// other sites are not followed (no network in unit tests). Text in code spans and fenced blocks is
// not a link (the API tables hold regular expressions such as `(…)[a-z](…)`). A code span that names
// a repository path from the top (`operator/core/money.ts`, `charts/flotilla/`) must name one that
// exists too: that is how the docs cite code, and a moved file leaves them pointing at nothing.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function docFiles(): string[] {
  const docs = readdirSync(join(repoRoot, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => join('docs', f));
  return ['README.md', ...docs];
}

/** The Markdown without fenced code blocks and code spans, line numbers kept. */
function withoutCode(markdown: string): string {
  let fenced = false;
  return markdown
    .split('\n')
    .map((line) => {
      if (/^\s*(```|~~~)/.test(line)) {
        fenced = !fenced;
        return '';
      }
      return fenced ? '' : line.replace(/(`+)[^`]*?\1/g, '');
    })
    .join('\n');
}

/** Every link target with its line: inline `[text](target)`, images, and reference definitions. */
function linkTargets(markdown: string): Array<{ line: number; target: string }> {
  const out: Array<{ line: number; target: string }> = [];
  withoutCode(markdown)
    .split('\n')
    .forEach((text, i) => {
      for (const m of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ line: i + 1, target: m[1] as string });
      const ref = /^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?/.exec(text);
      if (ref) out.push({ line: i + 1, target: ref[1] as string });
    });
  return out;
}

const TOP_LEVEL = /^(?:operator|cli|test|docs|charts|pulumi|federation|bench|scripts|examples|crds|contracts)\//;

/** Code spans that cite a path from the repository's top (`:line` and `#anchor` suffixes dropped). */
function citedPaths(markdown: string): Array<{ line: number; path: string }> {
  const out: Array<{ line: number; path: string }> = [];
  let fenced = false;
  markdown.split('\n').forEach((text, i) => {
    if (/^\s*(```|~~~)/.test(text)) fenced = !fenced;
    if (fenced) return;
    for (const m of text.matchAll(/`([^`\s]+)`/g)) {
      const path = (m[1] as string).replace(/[:#].*$/, '');
      // Globs and placeholders (`test/**`, `examples/<name>.yaml`) name no one file.
      if ((TOP_LEVEL.test(path) || path.startsWith('../')) && !/[*<>{}$]/.test(path)) out.push({ line: i + 1, path });
    }
  });
  return out;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to '-', repeats numbered. */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const m = fenced ? null : /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const text = (m[1] ?? '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/[`*_]/g, (c) => (c === '_' ? '_' : ''));
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** What is wrong with one link of `from` (a path relative to the repo), or undefined. */
function problem(from: string, target: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) return undefined; // another site
  const hash = target.indexOf('#');
  const path = decodeURIComponent(hash >= 0 ? target.slice(0, hash) : target);
  const anchor = hash >= 0 ? decodeURIComponent(target.slice(hash + 1)) : undefined;
  if (path.startsWith('/')) return 'is absolute: link relative to the file so it works in any checkout';
  const file = path === '' ? join(repoRoot, from) : resolve(repoRoot, dirname(from), path);
  const inRepo = relative(repoRoot, file);
  if (inRepo === '..' || inRepo.startsWith(`..${sep}`)) return `leaves the repository (${inRepo})`;
  if (!existsSync(file)) return `names ${inRepo}, which does not exist`;
  if (anchor === undefined || anchor === '') return undefined;
  if (!file.endsWith('.md') || statSync(file).isDirectory()) return undefined;
  return headingAnchors(readFileSync(file, 'utf8')).has(anchor) ? undefined : `names no heading "#${anchor}" in ${inRepo}`;
}

describe('relative links in README.md and docs/', () => {
  const files = docFiles();

  it('finds the docs and their links', () => {
    expect(files.length).toBeGreaterThan(10);
    const total = files.reduce((n, f) => n + linkTargets(readFileSync(join(repoRoot, f), 'utf8')).length, 0);
    expect(total).toBeGreaterThan(20);
  });

  it.each(files)('%s: every relative link resolves inside the repository', (file) => {
    const problems = linkTargets(readFileSync(join(repoRoot, file), 'utf8'))
      .map(({ line, target }) => ({ line, target, why: problem(file, target) }))
      .filter((p) => p.why !== undefined)
      .map((p) => `${file}:${p.line}: (${p.target}) ${p.why}`);
    expect(problems).toEqual([]);
  });

  it.each(files)('%s: every repository path it cites in a code span exists', (file) => {
    const missing = citedPaths(readFileSync(join(repoRoot, file), 'utf8')).flatMap(({ line, path }) => {
      // `../x` is relative to some folder the text names (or to the doc): it only may not leave the repository.
      if (path.startsWith('../')) {
        const inRepo = relative(repoRoot, resolve(repoRoot, dirname(file), path));
        return inRepo === '..' || inRepo.startsWith(`..${sep}`) ? [`${file}:${line}: \`${path}\` is outside the repository`] : [];
      }
      // Build outputs and local state (git-ignored, made by the build or a run) exist only after it.
      if (GENERATED.some((dir) => path.startsWith(dir))) return [];
      return existsSync(join(repoRoot, path)) ? [] : [`${file}:${line}: \`${path}\` does not exist`];
    });
    expect(missing).toEqual([]);
  });
});

/** Folders the build or a run writes (git-ignored): paths cited inside them need not exist in a clean clone. */
const GENERATED = ['contracts/build/', '.flotilla/', 'dist/', 'pulumi/dist/'];

describe('the link checker itself', () => {
  it('reads inline, image and reference links, and ignores code', () => {
    const md = 'see [a](docs/a.md) and ![i](img.png "t")\n`[no](code.md)`\n```\n[no](fenced.md)\n```\n[ref]: ../x.md\n';
    expect(linkTargets(md)).toEqual([
      { line: 1, target: 'docs/a.md' },
      { line: 1, target: 'img.png' },
      { line: 6, target: '../x.md' },
    ]);
  });

  it('reads repository paths cited in code spans, not globs, placeholders or other text', () => {
    const md = 'see `operator/core/money.ts:12` and `charts/flotilla/`, not `test/**`, `examples/<x>.yaml` or `spec.env`\n';
    expect(citedPaths(md)).toEqual([
      { line: 1, path: 'operator/core/money.ts' },
      { line: 1, path: 'charts/flotilla/' },
    ]);
    expect(citedPaths('the brief in `../shared/design/ARCHITECTURE.md`')).toEqual([{ line: 1, path: '../shared/design/ARCHITECTURE.md' }]);
  });

  it("makes GitHub's heading anchors", () => {
    const anchors = headingAnchors('# Namespace policy: a ceiling, not defaults\n## `flotilla add` & co.\n## Status\n## Status\n');
    expect([...anchors]).toEqual(['namespace-policy-a-ceiling-not-defaults', 'flotilla-add--co', 'status', 'status-1']);
  });

  it('refuses a link out of the repository, a missing file and a missing heading', () => {
    expect(problem('README.md', '../shared/design/ARCHITECTURE.md')).toMatch(/leaves the repository/);
    expect(problem('docs/api.md', 'nope.md')).toMatch(/docs\/nope\.md, which does not exist/);
    expect(problem('docs/api.md', 'operator.md#no-such-heading')).toMatch(/names no heading/);
    expect(problem('docs/api.md', 'operator.md#callbacks')).toBeUndefined();
    expect(problem('docs/api.md', 'https://example.org/x.md')).toBeUndefined();
  });
});

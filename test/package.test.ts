/** The package as users get it: a runtime-agnostic core, ESM + CJS builds, subpaths, the bin. */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const subpaths = Object.keys(pkg.exports).filter((k) => k !== './package.json');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('the core is runtime-agnostic', () => {
  it('no module outside src/node and src/cli imports a node: module or Buffer', () => {
    const offenders = sourceFiles(join(root, 'src'))
      .filter((f) => !/[/\\]src[/\\](node|cli)[/\\]/.test(f))
      .filter((f) => /from ['"]node:|require\(['"]node:|\bBuffer\./.test(readFileSync(f, 'utf8')));
    expect(offenders).toEqual([]);
  });
});

describe('the built package', () => {
  beforeAll(() => {
    execFileSync('npx', ['tsup', '--silent'], { cwd: root, stdio: 'pipe', timeout: 180_000 });
  }, 200_000);

  it.each(subpaths)('%s loads as ESM and as CJS, with types', (sub) => {
    const spec = sub === '.' ? 'mailpki' : `mailpki/${sub.slice(2)}`;
    const esm = execFileSync(process.execPath, ['--input-type=module', '-e', `const m = await import('${spec}'); console.log(Object.keys(m).length)`], { cwd: root, encoding: 'utf8' });
    const cjs = execFileSync(process.execPath, ['-e', `console.log(Object.keys(require('${spec}')).length)`], { cwd: root, encoding: 'utf8' });
    expect(Number(esm)).toBeGreaterThan(0);
    expect(Number(cjs)).toBe(Number(esm));
    const entry = pkg.exports[sub];
    expect(statSync(join(root, entry.import.types)).isFile()).toBe(true);
    expect(statSync(join(root, entry.require.types)).isFile()).toBe(true);
  });

  it('the bin runs from the build', () => {
    expect(execFileSync(process.execPath, [join(root, 'bin/mailpki.mjs'), '--version'], { encoding: 'utf8' }).trim()).toBe(pkg.version);
  });
});

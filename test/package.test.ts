/** The package as users get it: a runtime-agnostic core, ESM + CJS builds, subpaths, the bin. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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

const packDir = mkdtempSync(join(tmpdir(), 'mailpki-pack-'));
let tarball = '';

describe('the built package', () => {
  beforeAll(() => {
    // npm pack builds dist through the prepack script, as a publish does.
    execFileSync('npm', ['pack', '--pack-destination', packDir, '--no-audit', '--no-fund'], { cwd: root, stdio: 'pipe', timeout: 400_000 });
    tarball = join(packDir, readdirSync(packDir).find((f) => f.endsWith('.tgz'))!);
  }, 420_000);
  afterAll(() => rmSync(packDir, { recursive: true, force: true }));

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

  it('the tarball: LICENSE included; no prepare script, so installing it runs no build (finding 16)', () => {
    const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n');
    expect(files).toContain('package/LICENSE');
    expect(readFileSync(join(root, 'LICENSE'), 'utf8')).toContain('Apache License\n                           Version 2.0, January 2004');
    const packed = JSON.parse(execFileSync('tar', ['xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
    expect(packed.license).toBe('Apache-2.0');
    expect(packed.scripts.prepare).toBeUndefined();
    expect(packed.scripts.prepack).toBe('tsup');
  });

  it('every runtime dependency is imported by the build, and the build imports nothing else (finding 16)', () => {
    const built = readdirSync(join(root, 'dist'), { recursive: true, encoding: 'utf8' })
      .filter((f) => /\.(c?js|d\.c?ts)$/.test(f))
      .map((f) => readFileSync(join(root, 'dist', f), 'utf8'))
      .join('\n');
    const bare = new Set(
      [...built.matchAll(/(?:from |require\()['"]([^.'"][^'"]*)['"]/g)]
        .map((m) => m[1]!)
        .filter((spec) => !spec.startsWith('node:'))
        .map((spec) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!)),
    );
    const builtins = new Set(['async_hooks', 'crypto', 'dgram', 'dns', 'fs', 'http', 'net', 'path', 'util', 'os', 'stream', 'url', 'events']);
    const imported = [...bare].filter((b) => !builtins.has(b)).sort();
    expect(imported).toEqual(Object.keys(pkg.dependencies).sort());
  });

  it('a consumer with skipLibCheck false type-checks every subpath of the installed tarball (finding 16)', () => {
    const consumer = join(packDir, 'consumer');
    const modules = join(consumer, 'node_modules');
    mkdirSync(join(modules, 'mailpki'), { recursive: true });
    mkdirSync(join(modules, '@types'), { recursive: true });
    // Installed offline: the tarball unpacked as npm would, its dependencies from this checkout's node_modules.
    execFileSync('tar', ['xzf', tarball, '-C', join(modules, 'mailpki'), '--strip-components=1']);
    for (const dep of [...Object.keys(pkg.dependencies), '@types/node']) symlinkSync(join(root, 'node_modules', dep), join(modules, dep), 'dir');
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { strict: true, skipLibCheck: false, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2022', 'dom'], types: ['node'], noEmit: true },
        include: ['index.ts'],
      }),
    );
    const imports = subpaths.map((sub, i) => `import * as m${i} from '${sub === '.' ? 'mailpki' : `mailpki/${sub.slice(2)}`}';`);
    writeFileSync(
      join(consumer, 'index.ts'),
      `${imports.join('\n')}\nexport const all = [${subpaths.map((_, i) => `m${i}`).join(', ')}];\n` +
        `export async function open(path: string): Promise<number> { const s = await m${subpaths.indexOf('./node')}.openSqliteStore(path); await s.close(); return 1; }\n`,
    );
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', consumer], { encoding: 'utf8', timeout: 120_000 });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  }, 130_000);
});

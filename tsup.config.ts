import { defineConfig } from 'tsup';

// Public entry points: the root API and one subpath per building block.
export const entries = {
  index: 'src/index.ts',
  'keys/index': 'src/keys/index.ts',
  'pkcs12/index': 'src/pkcs12/index.ts',
  'certs/index': 'src/certs/index.ts',
  'ca/index': 'src/ca/index.ts',
  'cms/index': 'src/cms/index.ts',
  'mime/index': 'src/mime/index.ts',
  'smime/index': 'src/smime/index.ts',
  'revocation/index': 'src/revocation/index.ts',
  'store/index': 'src/store/index.ts',
  'lifecycle/index': 'src/lifecycle/index.ts',
  'dkim/index': 'src/dkim/index.ts',
  'dns/index': 'src/dns/index.ts',
  'filter/index': 'src/filter/index.ts',
  'node/index': 'src/node/index.ts',
  'nodemailer/index': 'src/nodemailer/index.ts',
};

export default defineConfig([
  {
    entry: entries,
    format: ['esm', 'cjs'],
    // @internal members stay out of the .d.ts, so better-sqlite3's types never reach a consumer.
    dts: { compilerOptions: { stripInternal: true } },
    sourcemap: true,
    clean: true,
    splitting: true,
    target: 'node20',
    outDir: 'dist',
  },
  {
    // The CLI is an ESM program (top-level await), not a library entry.
    entry: { 'cli/bin': 'src/cli/bin.ts' },
    format: ['esm'],
    sourcemap: true,
    target: 'node20',
    outDir: 'dist',
  },
]);

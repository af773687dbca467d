/** Regenerates docs/errors.md from src/errors.ts (`npm run docs:errors`); a test keeps them in sync. */
import { writeFileSync } from 'node:fs';
import { errorCodes } from '../src/errors.js';

export function renderErrorsDoc(): string {
  const rows = Object.entries(errorCodes).map(([code, meaning]) => `| \`${code}\` | ${meaning} |`);
  return `# Error codes

Every error mailpki throws is a \`MailPkiError\` with a stable \`code\` (switch on it; messages may
change), a \`message\` for a person, the original error as \`cause\` where there is one, and
sometimes \`details\` (e.g. \`{ field }\` for validation errors). Secrets never appear in any of them.

A verification *outcome* (a message that does not verify, a revoked certificate) is not an error:
it is a verdict object with its own problem codes, described in [verifying.md](verifying.md).

## Caller mistakes: one rule

A mistake in how a function is called — an argument of the wrong type, a required option missing, a value
outside its range (\`signDkim(message, null)\`, \`openSqliteStore(':memory:')\`, \`passphraseKeyProtector('')\`,
a store used after \`close()\` or inside its own transaction) — is a \`MailPkiError\` with code
\`ERR_INVALID_INPUT\`, a message that names the argument or option, and \`details.field\` holding its name or
path (\`'resolver'\`, \`'trustAnchors.0'\`, \`'policy.renewal.beforeDays'\`). It is the same code that zod
validation at the edges gives, so one \`switch (err.code)\` covers both: every public entry point follows this
rule, and mailpki throws no \`TypeError\` of its own (a \`TypeError\` from inside mailpki is a bug — report
it). Where a more specific code says what is wrong with a well-formed request, that code is used instead
(\`ERR_KEY_UNSUPPORTED\` for a key type mailpki does not offer, \`ERR_ALGORITHM_WEAK\`, \`ERR_SIGNER_INVALID\`
for a signer object whose key or certificate cannot sign). Bad *data* (a message, a certificate, a CRL)
gets the code of what it failed to be (\`ERR_MIME_MALFORMED\`, \`ERR_CERT_MALFORMED\`, …).

The CLI prints \`mailpki: <message> [<code>]\` on one line and exits with 2; its own validation of the
command line (a missing flag, a value a flag does not take) is \`ERR_USAGE\` and names the flag.

| code | meaning |
|---|---|
${rows.join('\n')}
`;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  writeFileSync(new URL('../docs/errors.md', import.meta.url), renderErrorsDoc());
}

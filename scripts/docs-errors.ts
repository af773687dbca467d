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

The CLI prints \`mailpki: <message> [<code>]\` on one line and exits with 2.

| code | meaning |
|---|---|
${rows.join('\n')}
`;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  writeFileSync(new URL('../docs/errors.md', import.meta.url), renderErrorsDoc());
}

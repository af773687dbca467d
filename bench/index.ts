/** `npm run bench`: each measurement beside its baseline (a peer or the raw primitive) in the same run. */
import { benchIssue } from './issue.js';
import { benchSmime, benchWorkBudget } from './smime.js';
import { benchCrl } from './crl.js';
import { benchCrlPath } from './crl-path.js';
import { benchLifecycle } from './lifecycle.js';
import { benchRevocation } from './revocation.js';
import { benchDkim } from './dkim.js';
import { benchChain } from './chain.js';
import { benchPolicy } from './policy.js';
import { benchCmsEncrypt } from './cms-encrypt.js';
import { benchSmimeEncrypt } from './smime-encrypt.js';
import { benchNodemailer } from './nodemailer.js';
import { benchNodemailerDirectory } from './nodemailer-directory.js';
import { benchFilter } from './filter.js';

const only = process.argv[2];
const suites: Record<string, () => Promise<void>> = { issue: benchIssue, smime: benchSmime, 'smime-budget': benchWorkBudget, crl: benchCrl, 'crl-path': benchCrlPath, revocation: benchRevocation, lifecycle: benchLifecycle, dkim: benchDkim, chain: benchChain, policy: benchPolicy, 'cms-encrypt': benchCmsEncrypt, 'smime-encrypt': benchSmimeEncrypt, nodemailer: benchNodemailer, 'nodemailer-directory': benchNodemailerDirectory, filter: benchFilter };

console.log(`mailpki bench — node ${process.version}, ${new Date().toISOString()}`);
for (const [name, run] of Object.entries(suites)) if (!only || only === name) await run();

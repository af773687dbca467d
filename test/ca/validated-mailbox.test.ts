/**
 * The CA guard (validatedCa) checks that an issued certificate binds the mailbox asked for, with the
 * same rule as verification: a subject emailAddress beside SAN mailboxes binds nothing.
 */
import { beforeAll, expect, it } from 'vitest';
import { validatedCa } from '../../src/ca/validated.js';
import type { CertificateAuthority } from '../../src/ca/types.js';
import { exportSpki } from '../../src/keys/index.js';
import { makeSmimeFixture, type SmimeFixture } from '../smime/fixtures.js';

let f: SmimeFixture;
beforeAll(async () => {
  f = await makeSmimeFixture();
});

/** A CA that answers every request with one fixed certificate. */
function fixedCa(signer: SmimeFixture['payments']): CertificateAuthority {
  return {
    info: async () => ({ name: 'fixed', profiles: ['strict'] }) as never,
    issue: async (req) => ({
      certificate: signer.certificate.der,
      chain: signer.chain.map((c) => c.der),
      serialNumber: signer.certificate.serialNumber,
      notBefore: signer.certificate.notBefore,
      notAfter: signer.certificate.notAfter,
      profile: req.profile ?? 'strict',
    }),
    revoke: async () => {
      throw new Error('not used');
    },
    getChain: async () => signer.chain.map((c) => c.der),
  };
}

it('a CA answer whose only ceo@ address is a subject emailAddress beside a SAN mailbox is refused for ceo@ (finding 2)', async () => {
  const s = f.sanAndSubjectEmail;
  const ca = validatedCa(fixedCa(s));
  await expect(ca.issue({ mailbox: 'ceo@example.com', publicKey: await exportSpki(s.publicKey) })).rejects.toMatchObject({
    code: 'ERR_CA_RESPONSE_INVALID',
    message: 'the CA issued a certificate for payments@example.com, not ceo@example.com',
  });
});

/**
 * The contract every CertificateAuthority implementation passes. Call it from a test file with
 * a factory that returns a fresh CA allowed to issue for example.com.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import { certificateEmails, parseCertificate } from '../../src/certs/certificate.js';
import { generateKeyPair, exportSpki } from '../../src/keys/index.js';
import type { CertificateAuthority } from '../../src/ca/types.js';

export interface CaContractOptions {
  /**
   * A second client of the same CA, as another process would open it (LocalCA: the same storage
   * opened again). Idempotency must hold across them, not only within one object.
   */
  another?: (ca: CertificateAuthority) => Promise<CertificateAuthority>;
}

export function runCaContract(name: string, factory: () => Promise<CertificateAuthority>, options: CaContractOptions = {}): void {
  describe(`CertificateAuthority contract: ${name}`, () => {
    let ca: CertificateAuthority;
    let spki: Uint8Array;
    beforeAll(async () => {
      ca = await factory();
      const keys = await generateKeyPair('ec-p256');
      spki = await exportSpki(keys.publicKey);
    });

    it('describes itself', async () => {
      const info = await ca.info();
      expect(info.profiles).toContain('strict');
      expect(info.id.length).toBeGreaterThan(0);
    });

    it('returns a chain whose first certificate issued what it issues', async () => {
      const chain = await ca.getChain();
      expect(chain.length).toBeGreaterThanOrEqual(1);
      const issued = await ca.issue({ mailbox: 'contract@example.com', publicKey: spki });
      const cert = parseCertificate(issued.certificate);
      expect(cert.issuer.der).toEqual(parseCertificate(chain[0]!).subject.der);
      expect(certificateEmails(cert)).toEqual(['contract@example.com']);
      expect(cert.serialNumber).toBe(issued.serialNumber);
      expect(issued.notAfter.getTime()).toBe(cert.notAfter.getTime());
    });

    it('gives the same certificate again for the same idempotency key', async () => {
      const a = await ca.issue({ mailbox: 'retry@example.com', publicKey: spki, idempotencyKey: 'k-1' });
      const b = await ca.issue({ mailbox: 'retry@example.com', publicKey: spki, idempotencyKey: 'k-1' });
      expect(b.serialNumber).toBe(a.serialNumber);
      const c = await ca.issue({ mailbox: 'retry@example.com', publicKey: spki, idempotencyKey: 'k-2' });
      expect(c.serialNumber).not.toBe(a.serialNumber);
    });

    it.runIf(options.another !== undefined)('gives the same certificate for the same idempotency key from another client, even at the same time (finding 12)', async () => {
      const other = await options.another!(ca);
      const a = await ca.issue({ mailbox: 'retry2@example.com', publicKey: spki, idempotencyKey: 'k-shared' });
      const b = await other.issue({ mailbox: 'retry2@example.com', publicKey: spki, idempotencyKey: 'k-shared' });
      expect(b.serialNumber).toBe(a.serialNumber);
      expect(b.certificate).toEqual(a.certificate);
      // Both asking first, concurrently: one certificate.
      const [c, d] = await Promise.all([
        ca.issue({ mailbox: 'retry2@example.com', publicKey: spki, idempotencyKey: 'k-race' }),
        other.issue({ mailbox: 'retry2@example.com', publicKey: spki, idempotencyKey: 'k-race' }),
      ]);
      expect(d.serialNumber).toBe(c.serialNumber);
      expect(d.certificate).toEqual(c.certificate);
      // And a certificate one client issued can be revoked through the other.
      await expect(other.revoke({ serialNumber: a.serialNumber, reason: 'superseded' })).resolves.toMatchObject({ serialNumber: a.serialNumber });
    });

    it('refuses a mailbox outside its domains with a coded error', async () => {
      await expect(ca.issue({ mailbox: 'x@not-allowed.test', publicKey: spki })).rejects.toMatchObject({
        code: 'ERR_CA_MAILBOX_NOT_ALLOWED',
      });
    });

    it('refuses malformed requests before doing anything', async () => {
      const e = await ca.issue({ mailbox: 'not a mailbox', publicKey: spki }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(MailPkiError);
      expect((e as MailPkiError).code).toBe('ERR_INVALID_INPUT');
      expect((e as MailPkiError).message).toMatch(/mailbox/);
    });

    it('revokes once, and says so the second time', async () => {
      const issued = await ca.issue({ mailbox: 'revoke@example.com', publicKey: spki });
      const r = await ca.revoke({ serialNumber: issued.serialNumber, reason: 'keyCompromise' });
      expect(r).toMatchObject({ serialNumber: issued.serialNumber, reason: 'keyCompromise' });
      await expect(ca.revoke({ serialNumber: issued.serialNumber, reason: 'superseded' })).rejects.toMatchObject({
        code: 'ERR_CA_ALREADY_REVOKED',
      });
      await expect(ca.revoke({ serialNumber: 'abcdef0123', reason: 'superseded' })).rejects.toMatchObject({ code: 'ERR_CA_NOT_FOUND' });
    });
  });
}

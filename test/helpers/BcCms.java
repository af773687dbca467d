// A Bouncy Castle CMS peer for the X25519 interop tests (RFC 8418): encrypts to a certificate with an
// ephemeral X25519 key, or decrypts with a PKCS#8 key. Run as a single-file program:
//   java -cp bcprov.jar:bcpkix.jar:bcutil.jar BcCms.java encrypt gcm|cbc CERT.pem IN OUT.der
//   java -cp … BcCms.java decrypt KEY.pk8.der CERT.pem IN.der OUT
import java.io.*;
import java.nio.file.*;
import java.security.*;
import java.security.cert.*;
import java.security.spec.*;
import java.util.*;
import org.bouncycastle.cms.*;
import org.bouncycastle.cms.jcajce.*;
import org.bouncycastle.jce.provider.BouncyCastleProvider;

public class BcCms {
  public static void main(String[] a) throws Exception {
    Security.addProvider(new BouncyCastleProvider());
    // Bouncy Castle 1.72's CMS helper asks for the key agreement by the KDF's name ("ECDHWITHSHA256KDF", RFC 5753's
    // dhSinglePass-stdDH-sha256kdf-scheme) and gets the EC one, which refuses an X25519 key. RFC 8418 uses the same OID
    // for X25519, so a first-place provider maps that name to Bouncy Castle's own X25519 + X9.63-KDF(SHA-256).
    Provider xdh = new Provider("RFC8418", "1.0", "X25519 for dhSinglePass-stdDH-sha256kdf-scheme") {};
    xdh.put("KeyAgreement.ECDHWITHSHA256KDF", "org.bouncycastle.jcajce.provider.asymmetric.edec.KeyAgreementSpi$X25519withSHA256KDF");
    xdh.put("KeyAgreement.1.3.132.1.11.1", "org.bouncycastle.jcajce.provider.asymmetric.edec.KeyAgreementSpi$X25519withSHA256KDF");
    Security.insertProviderAt(xdh, 1);
    CertificateFactory cf = CertificateFactory.getInstance("X.509", "BC");
    if (a[0].equals("encrypt")) {
      X509Certificate cert = (X509Certificate) cf.generateCertificate(new FileInputStream(a[2]));
      byte[] in = Files.readAllBytes(Paths.get(a[3]));
      KeyPairGenerator g = KeyPairGenerator.getInstance("X25519", "BC");
      KeyPair eph = g.generateKeyPair();
      JceKeyAgreeRecipientInfoGenerator ri = new JceKeyAgreeRecipientInfoGenerator(
          CMSAlgorithm.ECDH_SHA256KDF, eph.getPrivate(), eph.getPublic(), CMSAlgorithm.AES256_WRAP);
      ri.addRecipient(cert);
      byte[] out;
      if (a[1].equals("gcm")) {
        CMSAuthEnvelopedDataGenerator gen = new CMSAuthEnvelopedDataGenerator();
        gen.addRecipientInfoGenerator(ri);
        out = gen.generate(new CMSProcessableByteArray(in),
            (org.bouncycastle.operator.OutputAEADEncryptor) new JceCMSContentEncryptorBuilder(CMSAlgorithm.AES256_GCM).setProvider("BC").build()).getEncoded();
      } else {
        CMSEnvelopedDataGenerator gen = new CMSEnvelopedDataGenerator();
        gen.addRecipientInfoGenerator(ri);
        out = gen.generate(new CMSProcessableByteArray(in),
            new JceCMSContentEncryptorBuilder(CMSAlgorithm.AES256_CBC).setProvider("BC").build()).getEncoded();
      }
      Files.write(Paths.get(a[4]), out);
    } else {
      PrivateKey key = KeyFactory.getInstance("X25519", "BC").generatePrivate(new PKCS8EncodedKeySpec(Files.readAllBytes(Paths.get(a[1]))));
      X509Certificate cert = (X509Certificate) cf.generateCertificate(new FileInputStream(a[2]));
      byte[] der = Files.readAllBytes(Paths.get(a[3]));
      RecipientInformationStore store;
      try {
        store = new CMSAuthEnvelopedData(der).getRecipientInfos();
      } catch (Exception e) {
        store = new CMSEnvelopedData(der).getRecipientInfos();
      }
      RecipientInformation r = store.get(new JceKeyAgreeRecipientId(cert));
      if (r == null) { System.err.println("no RecipientInfo for this certificate"); System.exit(3); }
      byte[] content = r.getContent(new JceKeyAgreeEnvelopedRecipient(key));
      Files.write(Paths.get(a[4]), content);
    }
  }
}

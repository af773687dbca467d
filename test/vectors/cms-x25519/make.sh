#!/bin/sh
# Makes the X25519 (RFC 8418) vectors in this directory. OpenSSL 3.0.22 makes the keys and certificates
# (it cannot encrypt CMS to an X25519 key itself); Bouncy Castle 1.72 (Debian libbcpkix-java) encrypts, through
# test/helpers/BcCms.java. Run from this directory.
set -eu
BC=/usr/share/java/bcprov.jar:/usr/share/java/bcpkix.jar:/usr/share/java/bcutil.jar
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -subj '/CN=X25519 vectors CA' -days 3650
openssl genpkey -algorithm X25519 -out x25519.key
openssl pkey -in x25519.key -pubout -out x25519.pub
printf 'keyUsage=critical,keyAgreement\nextendedKeyUsage=emailProtection\nsubjectAltName=email:x25519@example.com\n' > ext.cnf
openssl x509 -new -force_pubkey x25519.pub -subj '/CN=X25519 recipient' -CA ca.pem -CAkey ca.key -days 3650 -extfile ext.cnf -out x25519.pem
rm -f ext.cnf x25519.pub ca.key
printf 'Content-Type: text/plain; charset=utf-8\r\n\r\nPayment instruction: 10,000.00 EUR to DE89 3704 0044 0532 0130 00.\r\n' > plain.txt
java -cp "$BC" ../../helpers/BcCms.java encrypt gcm x25519.pem plain.txt bc-aes256gcm.der
java -cp "$BC" ../../helpers/BcCms.java encrypt cbc x25519.pem plain.txt bc-aes256cbc.der

#!/bin/sh
# Regenerates the vectors in this directory with OpenSSL 3 (3.0.22 made the committed ones).
# Run from this directory: sh make.sh. Test keys only: never use them for anything else.
set -eu
printf 'Content-Type: text/plain; charset=utf-8\r\n\r\nPayment instruction: 10,000.00 EUR to DE89 3704 0044 0532 0130 00.\r\n' > plain.txt
openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.pem -subj '/CN=Vector RSA' -days 36500
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout p256.key -out p256.pem -subj '/CN=Vector P-256' -days 36500
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout p384.key -out p384.pem -subj '/CN=Vector P-384' -days 36500
enc() { out=$1; shift; openssl cms -encrypt -binary -in plain.txt -outform DER -out "$out" "$@"; }
enc aes256gcm-oaep-sha256.der -aes-256-gcm -recip rsa.pem -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256 -keyopt rsa_mgf1_md:sha256
enc aes128gcm-pkcs1.der -aes-128-gcm -recip rsa.pem
enc aes256cbc-p256-sha1kdf.der -aes-256-cbc -recip p256.pem
enc aes128cbc-p384-sha384kdf.der -aes-128-cbc -recip p384.pem -keyopt ecdh_kdf_md:sha384
enc aes256gcm-mixed-stream.der -aes-256-gcm -stream -recip rsa.pem -keyopt rsa_padding_mode:oaep -recip p256.pem -recip p384.pem
enc des3-pkcs1.der -des3 -recip rsa.pem

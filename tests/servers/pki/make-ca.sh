#!/usr/bin/env bash
# Generate the throw-away test PKI used by the nginx/mTLS tests.
#
# Usage: tests/servers/pki/make-ca.sh STATE_DIR
#
# Creates STATE_DIR/pki/ containing:
#   ca.pem / ca.key                  test CA (trusted by nginx for client certs, and
#                                    the CA clients must trust for https://127.0.0.1:18443)
#   server.pem / server.key          server cert, SAN IP:127.0.0.1 + DNS:localhost, signed by ca
#   server-chain.pem                 server.pem + ca.pem
#   client.pem / client.key          client cert (EKU clientAuth) signed by ca  -> mTLS succeeds
#   client-bundle.pem                client.pem + client.key in one file (reqwest Identity::from_pem style)
#   client.p12                       client cert+key as PKCS#12, password "changeit"
#   other-ca.pem / other-ca.key      a second, unrelated CA
#   other-client.pem / other-client.key / other-client-bundle.pem
#                                    client cert signed by other-ca -> mTLS must FAIL
#
# All keys are RSA 2048, PKCS#8 PEM, unencrypted.  Certificates are X.509 v3 with
# basicConstraints / keyUsage / extendedKeyUsage so that strict verifiers
# (rustls/webpki, OpenSSL, NSS) accept them.
#
# Idempotent: if every file is already present nothing is done.  If the set is
# incomplete it is regenerated as a whole (leaf certs must match their CA).
set -euo pipefail

STATE_DIR=${1:-${FHIR_SERVICES_DIR:-}}
if [ -z "$STATE_DIR" ]; then
    echo "usage: $0 STATE_DIR" >&2
    exit 2
fi
PKI="$STATE_DIR/pki"
DAYS=${FHIR_PKI_DAYS:-825}
P12_PASSWORD=changeit

FILES="ca.pem ca.key server.pem server.key server-chain.pem client.pem client.key
client-bundle.pem client.p12 other-ca.pem other-ca.key other-client.pem other-client.key
other-client-bundle.pem"

complete() {
    local f
    for f in $FILES; do [ -s "$PKI/$f" ] || return 1; done
    return 0
}

if complete; then
    echo "pki: already present in $PKI"
    exit 0
fi

command -v openssl >/dev/null || { echo "pki: openssl not found (run services.sh install)" >&2; exit 1; }

mkdir -p "$STATE_DIR"
TMP=$(mktemp -d "$STATE_DIR/.pki.tmp.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"

serial() { echo "0x01$(openssl rand -hex 15)"; }

newkey() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }

# make_ca NAME "Subject CN"
make_ca() {
    newkey "$1.key"
    openssl req -x509 -new -key "$1.key" -sha256 -days "$DAYS" \
        -set_serial "$(serial)" \
        -subj "/O=fhir-client tests/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" \
        -out "$1.pem"
}

# make_leaf NAME CA "Subject CN" EXTFILE-CONTENT
make_leaf() {
    newkey "$1.key"
    openssl req -new -key "$1.key" -subj "/O=fhir-client tests/CN=$3" -out "$1.csr"
    printf '%s\n' "$4" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" \
        -set_serial "$(serial)" -sha256 -days "$DAYS" \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}

CLIENT_EXT='basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid'

make_ca ca "fhir-client Test CA"
make_ca other-ca "fhir-client OTHER (untrusted) CA"

make_leaf server ca "127.0.0.1" 'basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid'
make_leaf client ca "fhir-test-client" "$CLIENT_EXT"
make_leaf other-client other-ca "fhir-test-client-untrusted" "$CLIENT_EXT"

cat server.pem ca.pem >server-chain.pem
cat client.pem client.key >client-bundle.pem
cat other-client.pem other-client.key >other-client-bundle.pem
openssl pkcs12 -export -in client.pem -inkey client.key -certfile ca.pem \
    -name fhir-test-client -passout "pass:$P12_PASSWORD" -out client.p12

# sanity checks
openssl verify -CAfile ca.pem server.pem client.pem >/dev/null
openssl verify -CAfile other-ca.pem other-client.pem >/dev/null
if openssl verify -CAfile ca.pem other-client.pem >/dev/null 2>&1; then
    echo "pki: other-client unexpectedly verifies against ca.pem" >&2
    exit 1
fi

chmod 644 ./*.pem
chmod 600 ./*.key ./*-bundle.pem client.p12
chmod 755 "$TMP"

rm -rf "$PKI"
mv -T "$TMP" "$PKI"
trap - EXIT
echo "pki: generated in $PKI"

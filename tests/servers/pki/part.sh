#!/usr/bin/env bash
# pki: the throw-away test PKI for the nginx/TLS/mTLS tests, in STATE_DIR/pki.
#
#   tests/servers/pki/part.sh install|start|stop|status
#
#   ca.pem / ca.key                  test CA: nginx's server cert and trusted client certs chain to it
#   server.pem / server.key          server cert, SAN IP:127.0.0.1 + DNS:localhost (no port: any port)
#   server-chain.pem                 server.pem + ca.pem
#   client.pem / client.key          client cert (EKU clientAuth) signed by ca  -> mTLS succeeds
#   client-bundle.pem                client.pem + client.key in one file
#   client.p12                       client cert+key as PKCS#12, password "changeit"
#   other-ca.pem / other-ca.key      a second, unrelated CA
#   other-client.pem / other-client.key / other-client-bundle.pem
#                                    client cert signed by other-ca -> mTLS must FAIL
#   smart/                           SMART Backend Services client keys (oidc-provider registers
#                                    their public halves): rsa2048.key / rsa4096.key (PKCS#8) and
#                                    rsa2048.pkcs1.key / rsa4096.pkcs1.key (PKCS#1) of the same keys,
#                                    p384.key (PKCS#8) and p384.sec1.key (SEC1, as `openssl ecparam
#                                    -genkey` writes it) of one P-384 key, other-rsa2048.key (an RSA
#                                    key no client has registered)
#
# RSA 2048 keys (PKCS#8 PEM, unencrypted), X.509 v3 with basicConstraints / keyUsage /
# extendedKeyUsage so that strict verifiers (rustls/webpki, OpenSSL, NSS) accept them.
# `start` generates the set only when a file is missing (then all of it: leaf certs must match
# their CA), and the SMART keys likewise (apart from the certificates, so that adding them never
# replaces a CA that a running nginx uses); `stop` keeps the files.
set -euo pipefail
PART=pki
LOG_TAG=$PART
# shellcheck source=tests/servers/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
PART_PORTS=""

PKI=$STATE_DIR/pki
DAYS=${FHIR_PKI_DAYS:-825}
P12_PASSWORD=changeit
FILES="ca.pem ca.key server.pem server.key server-chain.pem client.pem client.key
client-bundle.pem client.p12 other-ca.pem other-ca.key other-client.pem other-client.key
other-client-bundle.pem"
SMART_DIR=$PKI/smart
SMART_FILES="rsa2048.key rsa2048.pkcs1.key rsa4096.key rsa4096.pkcs1.key p384.key p384.sec1.key
other-rsa2048.key"

part_install() { command -v openssl >/dev/null || die "openssl not found: run scripts/bootstrap.sh"; }

# complete DIR FILE...: every file is there
complete() {
    local dir=$1 f
    shift
    for f in "$@"; do
        [ -s "$dir/$f" ] || return 1
    done
}

part_status() {
    # shellcheck disable=SC2086  # lists of names
    if complete "$PKI" $FILES && complete "$SMART_DIR" $SMART_FILES; then
        status_line ok "$PKI"
    else
        status_line down "$PKI"
        return 1
    fi
}

part_stop() { :; }

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

SERVER_EXT='basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid'

# The SMART keys, in a directory of their own (replaced as a whole).
make_smart_keys() {
    local tmp
    tmp=$(mktemp -d "$STATE_DIR/.pki-smart.tmp.XXXXXX")
    (
        cd "$tmp"
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2048.key 2>/dev/null
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096 -out rsa4096.key 2>/dev/null
        openssl pkey -in rsa2048.key -traditional -out rsa2048.pkcs1.key
        openssl pkey -in rsa4096.key -traditional -out rsa4096.pkcs1.key
        openssl ecparam -name secp384r1 -genkey -out p384.sec1.key
        openssl pkcs8 -topk8 -nocrypt -in p384.sec1.key -out p384.key
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other-rsa2048.key 2>/dev/null
        chmod 600 ./*.key
    )
    chmod 755 "$tmp"
    rm -rf "$SMART_DIR"
    mv -T "$tmp" "$SMART_DIR"
    log "SMART keys generated in $SMART_DIR"
}

part_start() {
    local tmp
    part_install
    # shellcheck disable=SC2086  # a list of names
    if complete "$PKI" $FILES; then
        complete "$SMART_DIR" $SMART_FILES || make_smart_keys
        return 0
    fi
    tmp=$(mktemp -d "$STATE_DIR/.pki.tmp.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    (
        cd "$tmp"
        make_ca ca "fhir-client Test CA"
        make_ca other-ca "fhir-client OTHER (untrusted) CA"
        make_leaf server ca "127.0.0.1" "$SERVER_EXT"
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
            die "other-client unexpectedly verifies against ca.pem"
        fi
        chmod 644 ./*.pem
        chmod 600 ./*.key ./*-bundle.pem client.p12
    )
    chmod 755 "$tmp"
    rm -rf "$PKI"
    mv -T "$tmp" "$PKI"
    trap - EXIT
    log "generated in $PKI"
    make_smart_keys
}

part_env() {
    write_env \
        "FHIR_TEST_CA=$PKI/ca.pem" \
        "FHIR_TEST_OTHER_CA=$PKI/other-ca.pem" \
        "FHIR_TEST_CLIENT_CERT=$PKI/client.pem" \
        "FHIR_TEST_CLIENT_KEY=$PKI/client.key" \
        "FHIR_TEST_CLIENT_BUNDLE=$PKI/client-bundle.pem" \
        "FHIR_TEST_CLIENT_P12=$PKI/client.p12" \
        "FHIR_TEST_CLIENT_P12_PASSWORD=$P12_PASSWORD" \
        "FHIR_TEST_OTHER_CLIENT_CERT=$PKI/other-client.pem" \
        "FHIR_TEST_OTHER_CLIENT_KEY=$PKI/other-client.key" \
        "FHIR_TEST_OTHER_CLIENT_BUNDLE=$PKI/other-client-bundle.pem" \
        "FHIR_SMART_KEYS_DIR=$SMART_DIR" \
        "FHIR_SMART_RSA_KEY=$SMART_DIR/rsa2048.key" \
        "FHIR_SMART_RSA_PKCS1_KEY=$SMART_DIR/rsa2048.pkcs1.key" \
        "FHIR_SMART_RSA4096_KEY=$SMART_DIR/rsa4096.key" \
        "FHIR_SMART_RSA4096_PKCS1_KEY=$SMART_DIR/rsa4096.pkcs1.key" \
        "FHIR_SMART_EC_KEY=$SMART_DIR/p384.key" \
        "FHIR_SMART_EC_SEC1_KEY=$SMART_DIR/p384.sec1.key" \
        "FHIR_SMART_OTHER_KEY=$SMART_DIR/other-rsa2048.key"
}

part_main "$@"

/*
 * Print the public JWK Set of a SMART Backend Services private key, to register the client with
 * an EHR or to publish at the `jku` URL:
 *
 *     smart_jwks KEY.pem KID [RS384|ES384] > jwks.json
 *
 * KEY.pem is RSA (2048 to 4096 bits, PKCS#8 or PKCS#1) or P-384 (PKCS#8 or SEC1), for example
 * from `openssl ecparam -name secp384r1 -genkey -noout -out key.pem`. Only public parts are
 * printed.
 */
#include <fhir_kindling.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s KEY.pem KID [RS384|ES384]\n", argv[0]);
        return 2;
    }
    char *json = NULL;
    fhir_error_t *err = NULL;
    if (fhir_smart_public_jwks(argv[1], argv[2], argc == 4 ? argv[3] : NULL, &json, NULL, &err) != FHIR_OK) {
        fprintf(stderr, "%s\n", fhir_error_message(err));
        fhir_error_free(err);
        return 1;
    }
    printf("%s\n", json);
    fhir_string_free(json);
    return 0;
}

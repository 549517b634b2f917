// The generated header compiles as C++ (with -Wall -Wextra -Werror -pedantic) and links.
#include <fhir_kindling.h>

#include <cstdio>
#include <cstring>

int main() {
    fhir_server_t *server = nullptr;
    fhir_error_t *error = nullptr;
    fhir_result rc = fhir_server_new("not a url", nullptr, &server, &error);
    bool ok = rc == FHIR_ERR_INVALID_ARGUMENT && server == nullptr && error != nullptr &&
              std::strlen(fhir_error_message(error)) > 0;
    fhir_error_free(error);
    std::printf("C++: %s (%s)\n", ok ? "ok" : "FAILED", fhir_version());
    return ok ? 0 : 1;
}

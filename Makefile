# fhir_kindling — build, install, C programs and tests.
#   make demo            the one-command demo (builds, starts a local HAPI FHIR server, runs the quickstart)
#   make test            every test (same as scripts/test-all.sh, which .ci/run calls)
#   make bootstrap       install what the build, the tests and the services need (scripts/bootstrap.sh)
#   make install PREFIX=/usr/local
#   make conformance     the integration suite against a second FHIR server (Helios; slow first build)
#   make docs            the C reference manual (checks the header docs; HTML in target/doc-c/html)
#   make dist            release archive + .deb + SHA256SUMS in target/dist (scripts/dist.sh)
#   make cpp-test        the C++ wrapper's GoogleTest suite against the installed library (needs the services)
#   make abi             the ABI check against the last release (docs/ABI.md) and its self-test
#   make deny            cargo deny: licences, bans, sources (deny.toml)
#   make bench           the performance benchmark (bench/run.sh; minutes; writes target/bench/)

PREFIX   ?= $(CURDIR)/target/install
# The C targets build and install the library first; scripts/test-all.sh, which installs it once
# per run, passes INSTALL_DEP= so that they use that install.
INSTALL_DEP ?= install
CC       ?= cc
CXX      ?= c++
CWARN    := -Wall -Wextra -Werror -pedantic
PKG      := PKG_CONFIG_PATH=$(PREFIX)/lib/pkgconfig pkg-config
OUT      := target/c

.PHONY: bootstrap build install header check-header c-build c-test examples demo test conformance clean-c

build:
	cargo build --release --locked

install:
	scripts/install.sh $(PREFIX)

header:
	scripts/gen-header.sh

# The committed header equals a fresh one, and compiles as C99 and C++ with warnings as errors.
check-header: $(INSTALL_DEP)
	scripts/gen-header.sh --check
	@mkdir -p $(OUT)
	printf '#include <fhir_kindling.h>\nint main(void){return fhir_version()==0;}\n' > $(OUT)/header_c99.c
	$(CC) -std=c99 $(CWARN) $$($(PKG) --cflags fhir_kindling) $(OUT)/header_c99.c -o $(OUT)/header_c99 $$($(PKG) --libs fhir_kindling) -Wl,-rpath,$(PREFIX)/lib
	$(CC) -std=c11 $(CWARN) $$($(PKG) --cflags fhir_kindling) $(OUT)/header_c99.c -o $(OUT)/header_c11 $$($(PKG) --libs fhir_kindling) -Wl,-rpath,$(PREFIX)/lib
	$(CXX) -std=c++11 $(CWARN) $$($(PKG) --cflags fhir_kindling) tests/c/header_cxx.cpp -o $(OUT)/header_cxx $$($(PKG) --libs fhir_kindling) -Wl,-rpath,$(PREFIX)/lib
	$(OUT)/header_c99 && $(OUT)/header_cxx

# C programs against the installed library: shared (pkg-config) and static, plus a CMake consumer.
c-build: $(INSTALL_DEP)
	@mkdir -p $(OUT)
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L -g $(CWARN) $$($(PKG) --cflags fhir_kindling) tests/c/test_capi.c -o $(OUT)/test_capi $$($(PKG) --libs fhir_kindling) -lpthread -Wl,-rpath,$(PREFIX)/lib
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L -g $(CWARN) $$($(PKG) --cflags fhir_kindling) tests/c/test_capi.c -o $(OUT)/test_capi_static $(PREFIX)/lib/libfhir_kindling.a $$($(PKG) --libs-only-other --static fhir_kindling) -lpthread -ldl -lm
	for ex in quickstart read_search upload update_delete smart_jwks embedding bulk_export; do \
	  $(CC) -std=c99 -D_POSIX_C_SOURCE=200809L -g $(CWARN) $$($(PKG) --cflags fhir_kindling) examples/$$ex.c -o $(OUT)/$$ex $$($(PKG) --libs fhir_kindling) -Wl,-rpath,$(PREFIX)/lib || exit 1; \
	done
	$(CC) -std=c99 -O2 $(CWARN) -DBENCH_PARALLEL_UPLOADS $$($(PKG) --cflags fhir_kindling) -Ibench bench/stream_bench.c -o $(OUT)/stream_bench $$($(PKG) --libs fhir_kindling) -lpthread -Wl,-rpath,$(PREFIX)/lib
	cmake -S tests/cmake -B $(OUT)/cmake -DCMAKE_PREFIX_PATH=$(PREFIX) -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build $(OUT)/cmake >/dev/null
	@echo "C programs built in $(OUT)"

VALGRIND := valgrind --quiet --suppressions=tests/c/valgrind.supp --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect

# Needs the services (tests/servers/services.sh start) and their variables in the environment.
c-test: c-build check-header
	$(VALGRIND) $(OUT)/test_capi
	$(OUT)/test_capi_static
	$(OUT)/cmake/quickstart_cmake
	for ex in read_search upload update_delete embedding bulk_export; do echo "== $$ex"; $(VALGRIND) $(OUT)/$$ex || exit 1; done
	@echo "== smart_jwks"
	$(VALGRIND) $(OUT)/smart_jwks "$$FHIR_SMART_RSA_KEY" "$$FHIR_SMART_RSA_KID" >$(OUT)/jwks-rsa.json
	grep -q '"alg":"RS384"' $(OUT)/jwks-rsa.json
	$(VALGRIND) $(OUT)/smart_jwks "$$FHIR_SMART_EC_SEC1_KEY" p384 ES384 >$(OUT)/jwks-ec.json
	grep -q '"crv":"P-384"' $(OUT)/jwks-ec.json

bootstrap:
	scripts/bootstrap.sh

# The C test and the examples under AddressSanitizer (LeakSanitizer included) and UBSan, against the
# installed (uninstrumented) library: ASan's malloc and free also serve the library's allocations, so
# a buffer used after its _free, freed twice or read past its length is caught, and so is a leak.
# tests/c/lsan.supp names the library's process-lifetime allocations. Needs the services, as c-test.
SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_ENV  := ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:check_initialization_order=1 \
            LSAN_OPTIONS=suppressions=$(CURDIR)/tests/c/lsan.supp:print_suppressions=0 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
SAN_OUT  := $(OUT)/sanitize

.PHONY: c-sanitize c-sanitize-build

c-sanitize-build: $(INSTALL_DEP)
	@mkdir -p $(SAN_OUT)
	for src in tests/c/test_capi.c examples/quickstart.c examples/read_search.c examples/upload.c examples/update_delete.c examples/smart_jwks.c examples/embedding.c examples/bulk_export.c; do \
	  $(CC) -std=c99 -D_POSIX_C_SOURCE=200809L -g -O1 $(CWARN) $(SANITIZE) $$($(PKG) --cflags fhir_kindling) $$src \
	    -o $(SAN_OUT)/$$(basename $$src .c) $$($(PKG) --libs fhir_kindling) -lpthread -Wl,-rpath,$(PREFIX)/lib || exit 1; \
	done
	@echo "sanitized C programs built in $(SAN_OUT)"

c-sanitize: c-sanitize-build
	$(SAN_ENV) $(SAN_OUT)/test_capi
	for ex in quickstart read_search upload update_delete embedding bulk_export; do echo "== $$ex"; $(SAN_ENV) $(SAN_OUT)/$$ex || exit 1; done
	$(SAN_ENV) $(SAN_OUT)/smart_jwks "$$FHIR_SMART_EC_KEY" p384 >/dev/null

demo:
	scripts/demo.sh

# Not part of `make test` (minutes, and noisy on a shared machine): see BENCHMARKS.md.
.PHONY: bench
bench:
	bench/run.sh

test:
	scripts/test-all.sh

conformance:
	scripts/conformance.sh

# The C reference manual from the header: every function documented (@param, @return, the free
# function of each output), then Doxygen with warnings as errors writes target/doc-c/html/index.html.
.PHONY: docs
docs:
	scripts/check-header-docs.sh

# --- C++ wrapper, release artefacts, ABI, supply chain -------------------------------------------
CXXWARN := -std=c++17 -Wall -Wextra -Werror -pedantic
CPP_OUT := $(OUT)/cpp
.PHONY: check-hpp cpp-test dist dist-check abi deny

# include/fhir_kindling.hpp wraps every function of the C header, and (with the tests using it)
# compiles warning-free under g++ and clang++, with and without exceptions.
check-hpp:
	@missing=$$(grep -E '^[A-Za-z_][A-Za-z0-9_ *]*[ *]fhir_[a-z0-9_]+\(' include/fhir_kindling.h | \
	  sed -E 's/^[^(]*[ *](fhir_[a-z0-9_]+)\(.*/\1/' | while read -r f; do \
	    grep -q "\b$$f(" include/fhir_kindling.hpp || echo "$$f"; done); \
	if [ -n "$$missing" ]; then echo "fhir_kindling.hpp does not wrap:" $$missing >&2; exit 1; fi; \
	echo "fhir_kindling.hpp wraps every function of fhir_kindling.h"
	for cxx in g++ clang++; do \
	  $$cxx $(CXXWARN) -Iinclude -fsyntax-only tests/cpp/test_hpp.cpp || exit 1; \
	  $$cxx $(CXXWARN) -fno-exceptions -Iinclude -fsyntax-only tests/cpp/test_noexcept.cpp || exit 1; \
	  echo "fhir_kindling.hpp: $$cxx ok (-std=c++17 -Wall -Wextra -Werror -pedantic, with and without exceptions)"; \
	done

# Needs the services' variables in the environment, as c-test.
cpp-test: $(INSTALL_DEP) check-hpp
	cmake -S tests/cpp -B $(CPP_OUT) -DCMAKE_PREFIX_PATH=$(PREFIX) -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build $(CPP_OUT) -j2 >/dev/null
	ctest --test-dir $(CPP_OUT) --output-on-failure

dist:
	scripts/dist.sh

# Needs the services' variables in the environment.
dist-check: dist
	tests/dist/check.sh

abi:
	cargo build --release --locked
	scripts/check-abi.sh target/release/libfhir_kindling.so
	tests/abi/selftest.sh

deny:
	cargo deny --locked check licenses bans sources

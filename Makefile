# spz - build, test, demo, bench, install.
#   make            ./spz and libspz.a
#   make check      unit (Check) and CLI tests
#   make demo       the full pipeline on the bundled sample
#   make bench      throughput against memcpy baselines
#   make fuzz       libFuzzer on every reader, FUZZ_SECONDS each (clang)
#   make SANITIZE=1 ... builds with ASan + UBSan; make CC=clang ... with clang

CC ?= cc
PREFIX ?= /usr/local
DESTDIR ?=
PKG_DEPS := zlib libcjson check openblas
APT_PKGS := zlib1g-dev libcjson-dev check pkg-config libopenblas-dev
# The real data set of spz eval's tests and the demo (Fashion-MNIST IDX).
DATA_PKG := dataset-fashion-mnist
DATA_DIR := /usr/share/datasets/fashion-mnist

CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -Wall -Wextra -Werror -ffp-contract=off -Ilib -Iformats -Icmd -Ibuild
ifeq ($(SANITIZE),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif

PKG_CFLAGS = $(shell pkg-config --cflags libcjson zlib openblas 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs libcjson zlib 2>/dev/null) -lm -pthread
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)

LIB_SRC := $(sort $(wildcard lib/*.c) $(wildcard formats/*.c))
CMD_SRC := $(sort $(wildcard cmd/*.c))
TEST_SRC := $(sort $(wildcard tests/unit/*.c))
BENCH_SRC := $(sort $(wildcard tests/bench/*.c))
MAN_PAGES := $(sort $(wildcard man/*.1))
LIB_OBJ := $(LIB_SRC:%.c=build/%.o)
CMD_OBJ := $(CMD_SRC:%.c=build/%.o) build/help.o
TEST_OBJ := $(TEST_SRC:%.c=build/%.o)
# Fuzz harnesses are found by their file names: tests/fuzz/fuzz_NAME.c,
# corpus tests/fuzz/corpus/NAME/.
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_REPLAY := $(FUZZ_NAMES:%=build/fuzz-replay/fuzz_%)

all: deps spz

# Missing build dependencies: install them as root, else say how and stop.
# The compiler counts too (a fresh Debian has none): gcc, or clang for
# CC=clang.
CC_PKG = $(if $(findstring clang,$(CC)),clang,gcc)
deps: build/.deps
build/.deps:
	@mkdir -p build
	@missing=; \
	if ! command -v $(firstword $(CC)) >/dev/null 2>&1; then missing="$(CC_PKG) "; fi; \
	if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists $(PKG_DEPS); then \
	  missing="$${missing}$(APT_PKGS)"; \
	fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing build dependencies: $$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >build/apt.log 2>&1 \
	      || { cat build/apt.log; exit 1; }; \
	  else \
	    echo "spz needs: $$missing"; \
	    echo "run: sudo apt-get install -y $$missing"; \
	    exit 2; \
	  fi; \
	fi
	@touch $@

# The Fashion-MNIST test set that `make check` and `make demo` evaluate on:
# Debian's package, installed as root like the build dependencies.
data: build/.data
build/.data:
	@mkdir -p build
	@if [ ! -f $(DATA_DIR)/t10k-images-idx3-ubyte.gz ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing the data set: $(DATA_PKG)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DATA_PKG)) >build/apt.log 2>&1 \
	      || { cat build/apt.log; exit 1; }; \
	  else \
	    echo "spz's tests need: $(DATA_PKG)"; \
	    echo "run: sudo apt-get install -y $(DATA_PKG)"; \
	    exit 2; \
	  fi; \
	fi
	@touch $@

build/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

# Help text is rendered from the man pages: one source for both.
build/help.c: $(MAN_PAGES) man/help.awk
	@mkdir -p build
	awk -f man/help.awk $(MAN_PAGES) > $@.tmp && mv $@.tmp $@

build/help.o: build/help.c cmd/help.h
	$(CC) $(CFLAGS) -c -o $@ $<

libspz.a: $(LIB_OBJ)
	rm -f $@
	# q, not r: members from lib/ and formats/ may share a basename.
	ar qcs $@ $^

spz: $(CMD_OBJ) libspz.a
	$(CC) $(LDFLAGS) -o $@ $(CMD_OBJ) libspz.a $(PKG_LIBS)

# Unit suites are found by their `Suite *NAME_suite(void)` definitions.
build/suites.h: $(TEST_SRC) tests/registry.sh
	@mkdir -p build
	sh tests/registry.sh SPZ_SUITES 'Suite \*' '[a-z0-9_]*_suite' $(TEST_SRC) > $@.tmp
	mv $@.tmp $@

build/tests/unit/main.o: build/suites.h

build/unit: $(TEST_OBJ) libspz.a
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) libspz.a $(PKG_LIBS) $(CHECK_LIBS)

# The oracles of the ONNX tests (tests/cli/test_onnx.sh): Debian's
# python3-onnx builds and checks models, onnxruntime from npm runs them
# (its linux-x64 binaries ship inside the npm package, so nothing else is
# downloaded). Installed as root when missing; nodejs and npm only when
# there is no node or npm at all (another install of them is kept).
ONNX_APT := python3-onnx python3-numpy
build/.onnx-deps: tests/onnx/package.json tests/onnx/package-lock.json
	@mkdir -p build
	@missing=; \
	/usr/bin/python3 -c 'import onnx, numpy' >/dev/null 2>&1 || missing="$(ONNX_APT)"; \
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then missing="$$missing nodejs npm"; fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing test dependencies: $$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >build/apt.log 2>&1 \
	      || { cat build/apt.log; exit 1; }; \
	  else \
	    echo "the ONNX tests need: $$missing"; \
	    echo "run: sudo apt-get install -y $$missing"; \
	    exit 2; \
	  fi; \
	fi
	cd tests/onnx && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error >$(CURDIR)/build/npm.log 2>&1 \
	  || { cat $(CURDIR)/build/npm.log; exit 1; }
	@touch $@

# The corpus replay: each harness linked with tests/fuzz/replay.c (its own
# main) and the normal compiler and flags, so no libFuzzer is needed.
build/fuzz-replay/fuzz_%: build/tests/fuzz/fuzz_%.o build/tests/fuzz/harness.o \
                          build/tests/fuzz/replay.o libspz.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

fuzz-replay: $(FUZZ_REPLAY)
	@fail=0; for n in $(FUZZ_NAMES); do \
	  ./build/fuzz-replay/fuzz_$$n tests/fuzz/corpus/$$n || fail=1; \
	done; exit $$fail

check: all data build/unit build/.onnx-deps fuzz-replay
	SPZ=$(CURDIR)/spz SPZ_DATA=$(DATA_DIR) sh tests/cli/run.sh
	CK_DEFAULT_TIMEOUT=120 ./build/unit

# Benchmarks are found by their `void bench_NAME(void)` definitions.
build/benches.h: $(BENCH_SRC) tests/registry.sh
	@mkdir -p build
	sh tests/registry.sh SPZ_BENCHES 'void ' 'bench_[a-z0-9_]*' $(BENCH_SRC) > $@.tmp
	mv $@.tmp $@

build/tests/bench/main.o: build/benches.h

build/bench: $(BENCH_SRC:%.c=build/%.o) libspz.a
	$(CC) $(LDFLAGS) -o $@ $(BENCH_SRC:%.c=build/%.o) libspz.a $(PKG_LIBS)

bench: all data build/bench
	SPZ_DATA=$(DATA_DIR) ./build/bench

# Every float32 bit pattern against the old trial printing (hours; not
# part of check). build/numtext_all STEP checks every STEP-th one.
build/numtext_all: tests/tools/numtext_all.c libspz.a
	$(CC) $(CFLAGS) -o $@ $< libspz.a -lm

numtext-all: build/numtext_all
	./build/numtext_all 1

# libFuzzer builds: clang with the fuzzer, ASan and UBSan, and CRC checks
# off (SPZ_FUZZ_NO_CRC) so that mutations reach the field checks. Objects
# live in build/fuzz/ apart from the normal build's.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 10
FUZZ_CFLAGS := -O1 -g -std=c11 -Wall -Wextra -Werror -ffp-contract=off \
  -fno-omit-frame-pointer -fsanitize=address,undefined \
  -fno-sanitize-recover=all -DSPZ_FUZZ_NO_CRC -Ilib -Iformats
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=build/fuzz/%.o)

# clang and the libFuzzer runtime of its version (Debian splits it out as
# libfuzzer-V-dev): installed as root when missing, like build/.deps.
build/fuzz/.deps: | deps
	@mkdir -p build/fuzz
	@links() { echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' \
	    | $(FUZZ_CC) -x c - -fsanitize=fuzzer -o build/fuzz/probe >/dev/null 2>&1; }; \
	ver() { $(FUZZ_CC) --version 2>/dev/null | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n 1; }; \
	if ! links; then \
	  if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	    v=$$(ver); echo "make fuzz needs: clang libfuzzer-$${v:-VERSION}-dev"; \
	    echo "run: sudo apt-get install -y clang libfuzzer-$${v:-VERSION}-dev"; exit 2; \
	  fi; \
	  echo "installing fuzzing dependencies"; \
	  { apt-get update -qq && \
	    { command -v $(FUZZ_CC) >/dev/null 2>&1 || \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang; } && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libfuzzer-$$(ver)-dev; \
	  } >build/apt.log 2>&1 || { cat build/apt.log; exit 1; }; \
	  links || { echo "$(FUZZ_CC) still cannot link -fsanitize=fuzzer"; exit 1; }; \
	fi
	@rm -f build/fuzz/probe
	@touch $@

build/fuzz/%.o: %.c | build/fuzz/.deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

build/fuzz/fuzz_%: build/fuzz/tests/fuzz/fuzz_%.o build/fuzz/tests/fuzz/harness.o $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(PKG_LIBS)

# Objects reached only through the pattern rules above: keep them.
.SECONDARY: $(FUZZ_SRC:%.c=build/%.o) build/tests/fuzz/harness.o \
  build/tests/fuzz/replay.o $(FUZZ_SRC:%.c=build/fuzz/%.o) \
  build/fuzz/tests/fuzz/harness.o $(FUZZ_LIB_OBJ)

fuzz: $(FUZZ_NAMES:%=build/fuzz/fuzz_%)
	sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_NAMES)

demo: all data
	sh samples/demo.sh ./spz

# Always rewritten: it bakes in PREFIX, which may differ from the last run.
spz.pc: Makefile
	printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: spz\nDescription: model compression for sparse accelerators\nVersion: %s\nRequires: zlib libcjson\nLibs: -L$${libdir} -lspz -lm -pthread\nCflags: -I$${includedir}\n' \
	  '$(PREFIX)' "$$(sed -n 's/^#define SPZ_VERSION "\(.*\)"/\1/p' lib/spz.h)" > $@

install: all spz.pc
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 spz $(DESTDIR)$(PREFIX)/bin/spz
	install -m 644 libspz.a $(DESTDIR)$(PREFIX)/lib/libspz.a
	install -m 644 lib/spz.h $(DESTDIR)$(PREFIX)/include/spz.h
	install -m 644 spz.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/spz.pc
	install -m 644 $(MAN_PAGES) $(DESTDIR)$(PREFIX)/share/man/man1/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/spz $(DESTDIR)$(PREFIX)/lib/libspz.a \
	  $(DESTDIR)$(PREFIX)/include/spz.h $(DESTDIR)$(PREFIX)/lib/pkgconfig/spz.pc
	rm -f $(patsubst man/%,$(DESTDIR)$(PREFIX)/share/man/man1/%,$(MAN_PAGES))

clean:
	rm -rf build/*.o build/lib build/formats build/cmd build/tests build/help.c build/suites.h \
	  build/unit build/bench build/benches.h build/fuzz-replay build/fuzz build/numtext_all spz libspz.a spz.pc

.PHONY: all deps data check fuzz fuzz-replay bench demo install uninstall clean spz.pc numtext-all

-include $(shell find build -name '*.d' 2>/dev/null)

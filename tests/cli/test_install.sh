#!/bin/sh
# test_install.sh - make install / uninstall with DESTDIR and PREFIX put
# exactly the issue's files in place and take them away again, spz.pc links
# a program, and the Makefile's dependency step asks for the exact apt-get
# line (not root) or runs apt-get (root), faked here through PATH.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# A clean sub-make: not the jobserver or flags of the make running us,
# except the build flavour (CC, SANITIZE), which must match the objects.
submake() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory "$@"
}
flavour=$(printf '%s\n' "${MAKEFLAGS:-}" | tr ' ' '\n' | grep -E '^(CC|SANITIZE)=' | tr '\n' ' ')

D="$T/dest"
# An install elsewhere first: spz.pc must follow each run's PREFIX.
# shellcheck disable=SC2086
submake -C "$ROOT" $flavour install DESTDIR="$T/other" PREFIX=/opt/x >/dev/null 2>&1
check "an earlier install with another PREFIX" grep -qx 'prefix=/opt/x' "$T/other/opt/x/lib/pkgconfig/spz.pc"
# shellcheck disable=SC2086
submake -C "$ROOT" $flavour install DESTDIR="$D" PREFIX=/usr >"$T/install.log" 2>&1
rc=$?; err=$(tail -3 "$T/install.log")
expect_rc 0 "make install DESTDIR=... PREFIX=/usr"
want=$(
	printf '%s\n' ./usr/bin/spz ./usr/include/spz.h ./usr/lib/libspz.a ./usr/lib/pkgconfig/spz.pc
	for p in "$ROOT"/man/*.1; do echo "./usr/share/man/man1/$(basename "$p")"; done
)
got=$(cd "$D" && find . -type f -o -type l | sort)
want=$(printf '%s\n' "$want" | sort)
if [ "$got" = "$want" ]; then ok "install puts exactly bin/spz, lib/libspz.a, include/spz.h, man1/*.1, spz.pc"; else notok "installed files" "got: $got" "wanted: $want"; fi
check "installed spz runs" "$D/usr/bin/spz" --version
check "installed spz is executable by all" test "$(stat -c %a "$D/usr/bin/spz")" = 755
check "spz.pc carries the prefix" grep -qx 'prefix=/usr' "$D/usr/lib/pkgconfig/spz.pc"

# A program built with nothing but the installed header, library and .pc.
cat >"$T/use.c" <<'C'
#include <spz.h>
#include <stdio.h>
int main(void)
{
	spz_model *m;
	int64_t d[2] = {4, 3};
	if (spz_gen_mlp(&m, d, 2, 1, NULL))
		return 1;
	printf("%zu %s\n", m->n_tensors, spz_strerror(SPZ_ECRC));
	spz_model_free(m);
	return 0;
}
C
san=
if nm "$D/usr/lib/libspz.a" 2>/dev/null | grep -q __asan_; then san="-fsanitize=address,undefined"; fi
flags=$(PKG_CONFIG_PATH="$D/usr/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$D" pkg-config --cflags --libs spz)
# shellcheck disable=SC2086
check "a program links against the installed libspz via pkg-config" cc $san -o "$T/use" "$T/use.c" $flags
check "and runs" sh -c "'$T/use' | grep -qx '2 checksum mismatch'"

# shellcheck disable=SC2086
submake -C "$ROOT" $flavour uninstall DESTDIR="$D" PREFIX=/usr >"$T/uninstall.log" 2>&1
rc=$?; err=$(tail -3 "$T/uninstall.log")
expect_rc 0 "make uninstall"
left=$(cd "$D" && find . -type f -o -type l)
if [ -z "$left" ]; then ok "uninstall removes every installed file"; else notok "uninstall leaves files" "$left"; fi

# Dependencies: a fresh tree whose pkg-config finds nothing.
mkdir "$T/fake" "$T/tree"
cp "$ROOT/Makefile" "$T/tree/"
printf '#!/bin/sh\nexit 1\n' >"$T/fake/pkg-config"
printf '#!/bin/sh\necho 1000\n' >"$T/fake/id"
printf '#!/bin/sh\necho "apt-get $*" >>"%s/apt.calls"\n' "$T" >"$T/fake/apt-get"
chmod +x "$T/fake/pkg-config" "$T/fake/id" "$T/fake/apt-get"
PATH="$T/fake:$PATH" submake -C "$T/tree" deps >"$T/.out" 2>"$T/.err"
rc=$?; out=$(cat "$T/.out"); err=$(cat "$T/.err")
expect_rc 2 "missing packages, not root: make stops with exit 2"
expect_out '^run: sudo apt-get install -y zlib1g-dev libcjson-dev check pkg-config libopenblas-dev$' "not root: the exact apt-get line"
check "not root: apt-get is not run" test ! -e "$T/apt.calls"
check "not root: nothing marked as done" test ! -e "$T/tree/build/.deps"
printf '#!/bin/sh\necho 0\n' >"$T/fake/id"
PATH="$T/fake:$PATH" submake -C "$T/tree" deps >"$T/.out" 2>"$T/.err"
rc=$?; err=$(cat "$T/.err")
expect_rc 0 "missing packages, root: make installs them and goes on"
check "root: apt-get installs exactly the packages" grep -qx 'apt-get install -y -qq zlib1g-dev libcjson-dev check pkg-config libopenblas-dev' "$T/apt.calls"
check "root: the step is marked done" test -e "$T/tree/build/.deps"
# No compiler either: it joins the list (gcc, or clang for CC=clang).
rm -rf "$T/tree/build" "$T/apt.calls"
printf '#!/bin/sh\necho 1000\n' >"$T/fake/id"
PATH="$T/fake:$PATH" submake -C "$T/tree" deps CC=no-such-cc >"$T/.out" 2>"$T/.err"
rc=$?; out=$(cat "$T/.out"); err=$(cat "$T/.err")
expect_rc 2 "no compiler, not root: exit 2"
expect_out '^run: sudo apt-get install -y gcc zlib1g-dev libcjson-dev check pkg-config libopenblas-dev$' "no compiler: gcc joins the apt-get line"
PATH="$T/fake:$PATH" submake -C "$T/tree" deps CC=no-such-clang >"$T/.out" 2>"$T/.err"
rc=$?; out=$(cat "$T/.out")
expect_out '^run: sudo apt-get install -y clang zlib1g-dev' "CC=clang: clang joins the apt-get line"

# make fuzz's step: clang links -fsanitize=fuzzer only once the libFuzzer
# runtime of its version is there (fake clang 14 here: it links after
# apt-get installed libfuzzer-14-dev).
rm -rf "$T/tree/build" "$T/apt.calls"
mkdir -p "$T/tree/build" && touch "$T/tree/build/.deps"
cat >"$T/fake/fclang" <<EOF
#!/bin/sh
[ "\$1" = --version ] && { echo "Debian clang version 14.0.6"; exit 0; }
grep -q libfuzzer-14-dev "$T/apt.calls" 2>/dev/null
EOF
chmod +x "$T/fake/fclang"
printf '#!/bin/sh\necho 1000\n' >"$T/fake/id"
PATH="$T/fake:$PATH" submake -C "$T/tree" build/fuzz/.deps FUZZ_CC=fclang >"$T/.out" 2>"$T/.err"
rc=$?; out=$(cat "$T/.out")
expect_rc 2 "fuzz: no libFuzzer, not root: exit 2"
expect_out '^run: sudo apt-get install -y clang libfuzzer-14-dev$' "fuzz: the apt-get line names clang's version"
check "fuzz: not root: nothing marked as done" test ! -e "$T/tree/build/fuzz/.deps"
printf '#!/bin/sh\necho 0\n' >"$T/fake/id"
PATH="$T/fake:$PATH" submake -C "$T/tree" build/fuzz/.deps FUZZ_CC=fclang >"$T/.out" 2>"$T/.err"
rc=$?
expect_rc 0 "fuzz: root: make installs libFuzzer and goes on"
check "fuzz: root: apt-get installs libfuzzer-14-dev" grep -qx 'apt-get install -y -qq libfuzzer-14-dev' "$T/apt.calls"
check "fuzz: root: the step is marked done" test -e "$T/tree/build/fuzz/.deps"
done_testing

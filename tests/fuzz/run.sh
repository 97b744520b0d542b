#!/bin/sh
# run.sh SECONDS NAME... - make fuzz: runs each harness build/fuzz/fuzz_NAME
# for SECONDS with libFuzzer, one after the other, and prints per harness
# the executions, the crashes and the corpus size. New inputs go to
# build/fuzz/corpus/NAME (the committed seeds in tests/fuzz/corpus/NAME are
# only read); a crash leaves build/fuzz/crashes/NAME-crash-* and makes the
# run fail after every harness had its turn. FUZZ_FLAGS adds libFuzzer
# options (e.g. FUZZ_FLAGS=-max_len=65536).
set -u
secs=$1
shift
fail=0
for name in "$@"; do
	work=build/fuzz/corpus/$name
	crashes=build/fuzz/crashes
	mkdir -p "$work" "$crashes"
	log=build/fuzz/$name.log
	before=$(ls "$crashes" | grep -c "^$name-" || true)
	# -timeout: one input over 10 s is a hang; -rss_limit_mb: the readers
	# must stay small (harness.c caps single allocations at 256 MB).
	./build/fuzz/fuzz_"$name" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$crashes/$name-" ${FUZZ_FLAGS:-} \
		"$work" "tests/fuzz/corpus/$name" >"$log" 2>&1
	rc=$?
	after=$(ls "$crashes" | grep -c "^$name-" || true)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	corpus=$(ls "$work" | wc -l)
	seeds=$(ls "tests/fuzz/corpus/$name" | wc -l)
	crashed=$((after - before))
	[ "$rc" = 0 ] || [ "$crashed" -gt 0 ] || crashed=1
	# libFuzzer's own count: the inputs it keeps, seeds included.
	corp=$(grep -a 'DONE' "$log" | sed -n 's/.* corp: \([^ ]*\).*/\1/p' | tail -n 1)
	printf 'fuzz %-14s %10s execs  %s crashes  corpus %s (%s seeds, %s new files)\n' \
		"$name" "${execs:-?}" "$crashed" "${corp:-?}" "$seeds" "$corpus"
	if [ "$crashed" -gt 0 ]; then
		fail=1
		grep -m 3 -E 'ERROR|runtime error|^fuzz:' "$log" | sed 's/^/    /'
		echo "    log: $log; inputs: $crashes/$name-*"
	fi
done
exit $fail

# Sourced by the shell integration tests: counting results, and check(), which
# runs a command and holds it to an exit status, patterns on its stdout and
# stderr, and, for runner errors (125), exactly one line on stderr.
# The sourcing script sets $out and $err to scratch files it cleans up.
passed=0 failed=0

pass() {
	echo "ok   $1"
	passed=$((passed + 1))
}

check() { # name, expected status, grep pattern for stdout or '', pattern for stderr or '', command...
	local name=$1 want=$2 out_pat=$3 err_pat=$4 got
	shift 4
	# A hung case fails on its own instead of eating the whole suite's timeout.
	timeout -k 10 300 "$@" >"$out" 2>"$err"
	got=$?
	if [[ $got -ne $want ]] || { [[ -n $out_pat ]] && ! grep -q -- "$out_pat" "$out"; } ||
		{ [[ -n $err_pat ]] && ! grep -q -- "$err_pat" "$err"; } ||
		{ [[ $want -eq 125 ]] && [[ $(wc -l <"$err") -ne 1 ]]; }; then
		echo "FAIL $name: status $got (want $want)"
		echo "--- stdout"; head -c 2000 "$out"; echo "--- stderr"; head -c 2000 "$err"
		failed=$((failed + 1))
	else
		pass "$name"
	fi
}

#!/bin/bash
# The library exports exactly the symbols lib/libagentvm.sym lists, all agentvm_*,
# under a version node, and carries the SONAME libagentvm.so.0.
set -eu
lib=$1
symfile=$2

expected=$(sed -n 's/^[[:space:]]*\(agentvm_[a-z0-9_]*\);.*/\1/p' "$symfile" | sort)
actual=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ { sub(/@.*/, "", $3); print $3 }' | sort)

if [ "$expected" != "$actual" ]; then
	echo "exported symbols differ from $symfile (< listed, > exported):"
	diff <(echo "$expected") <(echo "$actual") || true
	exit 1
fi
if nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/' | grep -v '@@AGENTVM_' ; then
	echo "the symbols above carry no AGENTVM_ version"
	exit 1
fi
soname=$(objdump -p "$lib" | awk '$1 == "SONAME" { print $2 }')
if [ "$soname" != "libagentvm.so.0" ]; then
	echo "SONAME is '$soname', expected libagentvm.so.0"
	exit 1
fi
echo "ok: $(echo "$expected" | wc -l) symbols, all versioned, SONAME $soname"

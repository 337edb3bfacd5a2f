#!/usr/bin/env bash
# Runs every `func FuzzXxx` of the module for $1 each (default 3s): `make test`
# passes 3s, `make fuzz` $(FUZZTIME); seeds are in each package's testdata/fuzz/.
# go test -fuzz takes one target in one package per run, hence the loop.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-3s}"
go="${GO:-go}"

found=0
while IFS= read -r file; do
	dir="./$(dirname "$file")"
	for name in $(grep -oE '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //'); do
		found=$((found + 1))
		echo "fuzz-short: $name in $dir for $fuzztime"
		# The fuzz engine sometimes ends a short run with "context deadline
		# exceeded" while stopping its workers, without any failing input;
		# such a run is tried once more. A real failure writes its input.
		if ! out=$("$go" test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$dir" 2>&1); then
			echo "$out"
			if grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written to' <<<"$out"; then
				echo "fuzz-short: $name stopped on the engine's deadline without a failing input; once more"
				"$go" test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$dir"
			else
				exit 1
			fi
		else
			echo "$out"
		fi
	done
done < <(grep -rlE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' cmd core httpapi transports web 2>/dev/null | sort)
echo "fuzz-short: $found fuzz targets run"

#!/bin/sh
# Licensed under the Apache License, Version 2.0; see mod_session_mongodb.c.
#
# The log ids of the code and of docs/log-ids.md agree (make check runs
# this; TAP output). The code's ids are the SMDB_LOGNO(nnnnn) in the
# module's sources (the top directory's *.c), the docs' the rows of its
# tables that start with "| SMDBnnnnn |". It fails, naming the ids, when
# an id is in the code but not in the docs, in the docs but not in the
# code, used at more than one call site (httpd's rule: one id per call
# site), or documented twice.
#   t/unit/log-ids.sh            (srcdir=DIR: the source tree)
LC_ALL=C; export LC_ALL
top=${srcdir:-$(dirname "$0")/../..}
docs=$top/docs/log-ids.md
tmp=$(mktemp -d "${TMPDIR:-/tmp}/smdb-log-ids.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' 0
n=0 failed=0

check() {   # check DESCRIPTION FILE: ok when FILE is empty, else names
    n=$((n + 1))
    if [ -s "$2" ]; then
        echo "not ok $n - $1"
        sed 's/^/#   /' "$2"
        failed=$((failed + 1))
    else
        echo "ok $n - $1"
    fi
}

set -- "$top"/*.c
if [ ! -f "$1" ] || [ ! -f "$docs" ]; then
    echo "1..0 # SKIP no sources or no docs/log-ids.md under $top"
    exit 0
fi

# one line per call site: "SMDBnnnnn file"
for f in "$@"; do
    grep -o 'SMDB_LOGNO([0-9][0-9]*)' "$f" |
        sed "s/SMDB_LOGNO(\([0-9]*\))/SMDB\1 $(basename "$f")/"
done | sort >"$tmp/sites"
cut -d' ' -f1 "$tmp/sites" | sort -u >"$tmp/code"
grep -o '^| *SMDB[0-9][0-9]* *|' "$docs" | tr -d '| ' | sort >"$tmp/rows"
sort -u "$tmp/rows" >"$tmp/docs"

comm -23 "$tmp/code" "$tmp/docs" >"$tmp/undocumented"
comm -13 "$tmp/code" "$tmp/docs" >"$tmp/unused"
# ids at two or more call sites, with the files they are in
cut -d' ' -f1 "$tmp/sites" | uniq -d | while read -r id; do
    printf '%s in' "$id"
    grep "^$id " "$tmp/sites" | cut -d' ' -f2 | sed 's/^/ /' | tr -d '\n'
    echo
done >"$tmp/twice"
uniq -d "$tmp/rows" >"$tmp/docs_twice"
sort -u "$tmp/code" "$tmp/docs" | grep -v '^SMDB[0-9]\{5\}$' >"$tmp/bad"

echo "# $(wc -l <"$tmp/sites" | tr -d ' ') call sites in the code," \
    "$(wc -l <"$tmp/docs" | tr -d ' ') ids in docs/log-ids.md"
check "every id in the code is in docs/log-ids.md" "$tmp/undocumented"
check "every id in docs/log-ids.md is in the code" "$tmp/unused"
check "one call site per id" "$tmp/twice"
check "each id documented once" "$tmp/docs_twice"
check "every id is SMDB and five digits" "$tmp/bad"
echo "1..$n"
echo "$((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]

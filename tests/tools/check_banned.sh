#!/bin/sh
# Fails when a banned unbounded function is called in the project's C code
# (curl's checksrc idea): sprintf, vsprintf, strcpy, strcat, atoi, atol, gets, strtok.
# snprintf/vsnprintf/strtok_r/mf_strlcpy are the allowed replacements.
root=${1:-.}
files=$(find "$root/agent" "$root/collector" "$root/reports" "$root/common" "$root/tests" "$root/bench" \
        -name '*.c' -o -name '*.h' 2>/dev/null)
[ -n "$files" ] || { echo "check_banned: no C files found under $root" >&2; exit 1; }
hits=$(grep -n -E '(^|[^A-Za-z0-9_])(sprintf|vsprintf|strcpy|strcat|atoi|atol|atoll|gets|strtok)[[:space:]]*\(' $files |
       grep -v 'check_banned: allow')
if [ -n "$hits" ]; then
    echo "banned unbounded functions (use snprintf, mf_strlcpy, mf_parse_long, strtok_r):"
    echo "$hits"
    exit 1
fi
echo "check_banned: $(echo "$files" | wc -l) files clean"

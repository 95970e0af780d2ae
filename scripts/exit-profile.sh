#!/usr/bin/env bash
# Sums a `tortuga-vmm --trace-mmu` trace by guest call site and names the
# sites with addr2line, so that the single-entry page-table exits read as
# the guest kernel's functions (hypervisor/README.md, "Finding which guest
# operations exit").
#
#   scripts/exit-profile.sh TRACE VMLINUX [TOP]
#
# Prints the TOP (default 15) call sites by exits, the call chains above
# them, and every call kind with its count alone and in multicalls. Only
# "alone" lines are exits: a multicall's entries share its one exit. A
# call site is the first function on the stack that is not a hypercall
# wrapper: EXIT_PROFILE_SKIP (an awk regex over function names) names the
# wrappers, by default the Linux port's.
set -euo pipefail

usage() {
  echo "usage: $0 TRACE VMLINUX [TOP]" >&2
  exit 2
}

[[ $# -ge 2 && $# -le 3 ]] || usage
trace=$1 vmlinux=$2 top=${3:-15}
skip=${EXIT_PROFILE_SKIP:-'^(HYPERVISOR_|tortuga_hypercall|tortuga_mmu_request$|tortuga_mmuext$|tortuga_boot_mmuext$)'}
[[ -r $trace ]] || { echo "$0: cannot read the trace $trace" >&2; exit 1; }
[[ -r $vmlinux ]] || { echo "$0: cannot read the kernel $vmlinux" >&2; exit 1; }
[[ $top =~ ^[0-9]+$ ]] || { echo "$0: TOP must be a number, not '$top'" >&2; exit 1; }
command -v addr2line >/dev/null || { echo "$0: addr2line (binutils) is not installed" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Every return address once, then its function: "ADDRESS FUNCTION" lines.
awk '!/^#/ { for (i = 5; i <= NF; i++) if ($i != "?") print $i }' "$trace" | sort -u >"$work/addresses"
addr2line -f -e "$vmlinux" <"$work/addresses" | awk 'NR % 2 == 1' >"$work/functions"
paste -d' ' "$work/addresses" "$work/functions" >"$work/symbols"

# The trace with each address replaced by its function ("?" when unknown).
awk 'NR == FNR { name[$1] = ($2 == "??" ? $1 : $2); next }
     /^#/ { next }
     { line = $1 " " $2 " " $3; for (i = 5; i <= NF; i++) line = line " " ($i in name ? name[$i] : $i); print line }' \
  "$work/symbols" "$trace" >"$work/named"

total=$(awk '$3 == "alone"' "$work/named" | wc -l)
echo "single-entry page-table exits: $total (trace $trace)"
[[ $total -gt 0 ]] || exit 0

ranked() {  # stdin: keys, one per exit; prints the top keys with counts and shares
  sort | uniq -c | sort -rn | head -n "$top" | awk -v total="$total" \
    '{ n = $1; $1 = ""; printf "%9d %5.1f%% %s\n", n, 100 * n / total, substr($0, 2) }'
}

# "CALL KIND SITE CALLER CALLER'S-CALLER" per exit: frames from the first non-wrapper on.
awk -v skip="$skip" '$3 == "alone" {
       i = 4; while (i < NF && $i ~ skip) i++
       site = $i; chain = $i; for (j = i + 1; j <= NF && j <= i + 2; j++) chain = chain " < " $j
       print $1 " " $2 "\t" site "\t" chain }' "$work/named" >"$work/sites"

echo
echo "by call site (the first function on the guest stack outside the hypercall wrappers):"
cut -f2 "$work/sites" | ranked
echo
echo "by call chain (call kind: site < its callers, from the stack scan; a stale address may show up):"
awk -F'\t' '{ print $1 ": " $3 }' "$work/sites" | ranked
echo
echo "by call kind (alone: exits; multicall: single-entry calls made as multicall entries, no exit of their own):"
awk '{ print $1 " " $2 " " $3 }' "$work/named" | sort | uniq -c | sort -rn | awk '{ printf "%9d %s %s %s\n", $1, $2, $3, $4 }'

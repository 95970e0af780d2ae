#!/bin/sh
# The end-to-end check the `linux` test reads: each section prints a line
# the test looks for.
echo "== uname"
uname -a
echo "== hypervisor"
dmesg | grep "Hypervisor detected"
echo "== mounts"
grep -E "^(proc|sysfs) " /proc/mounts
echo "== fork, pipe, exec"
echo "tortuga pipes" | tr a-z A-Z
n=$(seq 1 200 | wc -l)
echo "counted $n lines"
(echo "from a subshell") | cat
echo "== misbehaving programs"
/bin/tg-segv
echo "segv exit status $?"
/bin/tg-illegal
echo "illegal instruction exit status $?"
/bin/tg-forkbomb 64
echo "forkbomb exit status $?"
echo "== still alive"
echo "tortuga: end-to-end check done"

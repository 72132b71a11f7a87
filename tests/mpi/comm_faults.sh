#!/bin/sh
# Runs tests/mpi/test_comm_fault.c under mpiexec -np 2 and checks that the job ends
# non-zero, quickly, with a message naming the culprit:
#   comm_faults.sh timeout|fatal FAULT_EXE MPIEXEC [MPIEXEC ARGS...]
# timeout: within 10 s (2 s comm timeout + 2 s for answers + start-up), naming rank 1 as
# not joined; fatal: within 10 s, with rank 1's cnn_fatal message.
set -u
case_name=$1
exe=$2
shift 2
limit=${CNN_FAULT_LIMIT_S:-10}
out=$(mktemp)
t0=$(date +%s.%N)
timeout 60 "$@" -np 2 "$exe" "$case_name" >"$out" 2>&1
rc=$?
t1=$(date +%s.%N)
elapsed=$(echo "$t1 - $t0" | bc)
cat "$out"
echo "--- exit $rc after $elapsed s"
fail() { echo "FAIL: $*"; rm -f "$out"; exit 1; }
[ "$rc" -ne 0 ] || fail "the job exited 0"
[ "$rc" -ne 124 ] || fail "the job hung (killed after 60 s)"
[ "$(echo "$elapsed < $limit" | bc)" -eq 1 ] || fail "took $elapsed s, limit $limit s"
if [ "$case_name" = timeout ]; then
    grep -q "rank 0: collective #2 'loss (step 2)' not complete" "$out" ||
        fail "no watchdog report from rank 0"
    grep -q "rank 1 has not joined it (it is at collective #1 'loss (step 1)'" "$out" ||
        fail "the report does not name rank 1 as missing"
else
    grep -q "FATAL .*rank 1 fails on purpose" "$out" || fail "rank 1's message is missing"
    grep -q "r1/2" "$out" || fail "the message does not carry rank 1's prefix"
fi
grep -q "should have ended" "$out" && fail "a rank got past the collective"
rm -f "$out"
echo "OK: $case_name"

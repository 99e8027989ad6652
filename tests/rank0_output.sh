#!/bin/sh
# Run a command under mpiexec showing only rank 0's output; other ranks log to a file
# (their output is printed if the job fails, by the caller reading tests/logs/).
rank="${PMI_RANK:-${OMPI_COMM_WORLD_RANK:-0}}"
if [ "$rank" = "0" ]; then
    exec "$@"
fi
mkdir -p "${TMPDIR:-/tmp}/remc_mpi-test-logs"
exec "$@" > "${TMPDIR:-/tmp}/remc_mpi-test-logs/rank$rank.log" 2>&1

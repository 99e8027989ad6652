from remc_mpi.ui.cli import entry

entry()

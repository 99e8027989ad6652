# Two commands for a fresh machine with only Python 3.11: `make demo` and `make test`.
# Both create .venv if missing and install the package with the PyPI MPICH runtime.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NP     ?= 2
MPIEXEC := $(BIN)/mpiexec
# a failing rank aborts the whole job (python -m mpi4py), and a hung job is killed
MPITEST = timeout 900 $(MPIEXEC) -n $(1) tests/rank0_output.sh $(BIN)/python -m mpi4py -m pytest -x -q tests/mpi

.PHONY: demo test test-serial test-mpi venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[mpich,test,plot]'
	touch $(STAMP)

demo: $(STAMP)
	$(MPIEXEC) -n $(NP) $(BIN)/python -m mpi4py -m remc_mpi demo -o demo-out

test: test-serial test-mpi

test-serial: $(STAMP)
	$(BIN)/python -m pytest -x -q tests --ignore=tests/mpi

test-mpi: $(STAMP)
	$(call MPITEST,1)
	$(call MPITEST,2)
	$(call MPITEST,4)

clean:
	rm -rf $(VENV) demo-out .pytest_cache

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
	$(BIN)/python -m compileall -q remc_mpi  # as a non-editable install does: no compile at each start
	touch $(STAMP)

demo: $(STAMP)
	$(MPIEXEC) -n $(NP) $(BIN)/python -m mpi4py -m remc_mpi demo -o demo-out

test: test-serial test-mpi

test-serial: $(STAMP)
	$(BIN)/python -m pytest -x -q tests --ignore=tests/mpi --ignore=tests/slurm

test-mpi: $(STAMP)
	$(call MPITEST,1)
	$(call MPITEST,2)
	$(call MPITEST,4)

clean:
	rm -rf $(VENV) $(MPIO_VENV) demo-out .pytest_cache

# ---- parallel HDF5 (mpio) -------------------------------------------------------------------
# Debian's Open MPI and parallel HDF5, h5py built against them in its own venv (never mixed with
# the MPICH wheel of .venv). Needs root for apt-get. The built h5py wheel is cached outside the
# tree, so later runs on the same machine reinstall it in seconds.
MPIO_VENV  ?= .venv-mpio
MPIO_BIN   := $(MPIO_VENV)/bin
WHEELS     ?= $(HOME)/.cache/remc_mpi/wheels
HDF5_DIR   ?= /usr/lib/x86_64-linux-gnu/hdf5/openmpi
OMPI_ENV   := OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
MPIO_TEST   = $(OMPI_ENV) timeout 900 mpiexec.openmpi -n $(1) tests/rank0_output.sh $(MPIO_BIN)/python -m mpi4py \
              -m pytest -x -q --color=no tests/mpi/test_output.py tests/mpi/test_invariance.py \
              tests/mpi/test_disk_full.py

.PHONY: test-mpio
$(MPIO_VENV)/.installed: pyproject.toml
	command -v mpicc >/dev/null && test -d $(HDF5_DIR) || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	  libopenmpi-dev openmpi-bin libhdf5-openmpi-dev pkg-config >/dev/null; }
	test -x $(MPIO_BIN)/python || $(PYTHON) -m venv $(MPIO_VENV)
	$(MPIO_BIN)/python -m pip install -q -U pip setuptools wheel
	$(MPIO_BIN)/python -m pip install -q mpi4py numpy cython pkgconfig scipy pyyaml numba pytest hypothesis
	mkdir -p $(WHEELS)
	ls $(WHEELS)/h5py-*.whl >/dev/null 2>&1 || CC=mpicc HDF5_MPI=ON HDF5_DIR=$(HDF5_DIR) \
	  $(MPIO_BIN)/python -m pip wheel -q --no-deps --no-binary=h5py --no-build-isolation -w $(WHEELS) h5py
	$(MPIO_BIN)/python -m pip install -q --force-reinstall --no-deps $(WHEELS)/h5py-*.whl
	$(MPIO_BIN)/python -c "import h5py, sys; sys.exit(0 if h5py.get_config().mpi else 1)"
	$(MPIO_BIN)/python -m pip install -q --no-deps -e .
	touch $@

test-mpio: $(MPIO_VENV)/.installed
	$(call MPIO_TEST,2)
	$(call MPIO_TEST,4)

# ---- a real one-node Slurm ------------------------------------------------------------------
# Installs slurm-wlm and munge if missing (root, Debian), starts munged, slurmctld and slurmd
# on localhost, then submits a campaign (job array + collection job) and a run whose time limit
# interrupts it (signal, checkpoint, requeue, resume), using .venv's MPICH mpiexec.
SLURM_DIR ?= /tmp/remc-slurm
.PHONY: test-slurm
test-slurm: $(STAMP)
	SLURM_CONF=$$(tests/slurm/start_slurm.sh $(SLURM_DIR)) timeout 1500 $(BIN)/python -m pytest -x -q tests/slurm

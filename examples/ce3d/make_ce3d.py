"""Make ce3d.vms: a Ce 3d spectrum as an instrument would record it, from the project's own model.

The CeO2 parameters of Mototake et al. (2019) through the 3-level cluster model, with both
spin-orbit components (3d3/2 18.6 eV above 3d5/2, branching 2:3), a constant and a Shirley
background, Poisson counts (about 6000 at the highest peak), on a binding-energy window of
870-930 eV with a charge-reference shift of +2.3 eV, written as a VAMAS file on the kinetic
energy axis of an Al K-alpha source (so the loader must convert it back).

    python make_ce3d.py            # writes ce3d.vms next to this script
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from remc_mpi.models import get_model
from remc_mpi.instruments.vamas import VamasBlock, write_vamas

#: the truth: CeO2 (Mototake et al. 2019), the lines' zero at 895 eV plus a 2.3 eV charging shift
TRUTH = {"delta": 1.6, "v": 0.76, "uff": 10.5, "ufc": 12.5, "gamma": 0.7, "shift": 897.3, "amp": 9000.0,
         "so_split": 18.6, "so_ratio": 2.0 / 3.0, "bg_const": 400.0, "bg_shirley": 0.08}
SOURCE_EV, WORK_FUNCTION_EV = 1486.6, 4.5
BINDING = np.arange(870.0, 930.0, 0.1)  # the recorded window, 600 points


def spectrum(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(binding energy, Poisson counts) of the truth."""
    model = get_model("cluster3", doublet=True, background=["constant", "shirley"])
    theta = np.array([[TRUTH[n] for n in model.param_names]])
    mean = model.spectrum(theta, BINDING)[0]
    return BINDING, np.random.default_rng(seed).poisson(mean).astype(float)


def main(folder: Path) -> Path:
    binding, counts = spectrum()
    # the instrument scans kinetic energy upward; the recorded kinetic energy is referred to the
    # spectrometer's Fermi level (the work function already applied): KE = source - BE
    kinetic = SOURCE_EV - binding[::-1]
    block = VamasBlock("Ce", "3d", float(kinetic[0]), 0.1, counts[::-1], source_energy=SOURCE_EV,
                       work_function=WORK_FUNCTION_EV)
    return write_vamas(folder / "ce3d.vms", [block], comment="synthetic CeO2 Ce 3d (remc_mpi examples/ce3d)")


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent))

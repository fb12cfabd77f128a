"""evalsweep entry point (the same as `.venv/bin/evalsweep run ...`).

    python run.py                                       # one job on the bundled simulator
    python run.py -m model=sim_weak,sim_strong seed=42,43,44
"""

import sys

from evalsweep.app.startup import load_entry

if __name__ == "__main__":
    sys.exit(load_entry("evalsweep.app.main", "run")(sys.argv[1:]))

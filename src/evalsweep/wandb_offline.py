"""`python -m evalsweep.wandb_offline DIR...`, the README's command: the reader lives in
evalsweep.tracking.wandb_offline; this name is kept so the command keeps working."""

import sys

from evalsweep.tracking.wandb_offline import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

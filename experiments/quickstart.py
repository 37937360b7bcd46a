"""Quickstart: tune PPO on CartPole-v1 (same as `jaxmeta run quickstart` and
`jaxmeta tune experiments/quickstart.toml`).

python experiments/quickstart.py [--seed N] [--set field=value ...]
"""

import sys

from jaxmeta.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "quickstart", *sys.argv[1:]]))

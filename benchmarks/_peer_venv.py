"""Peers that cannot share jaxmeta's environment run in their own venv, built
on first use: `peer_python` builds (or reuses) it, `run_peer_script` runs one
of the `_*_peer.py` scripts there with a JSON config and reads its result
(`print_result` writes the tuning peers' result line). Standard library only:
the peers import it from their own venvs."""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def peer_python(venv_dir: str, packages: list[str], probe: str) -> str:
    """The venv's interpreter, after building the venv with `packages` unless
    `python -c probe` already succeeds there."""
    python = os.path.join(venv_dir, "bin", "python")
    check = [python, "-c", probe]
    if os.path.exists(python) and subprocess.run(check).returncode == 0:
        return python
    print(f"building {venv_dir} with {packages}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", venv_dir], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", *packages], check=True)
    if subprocess.run(check).returncode:
        raise RuntimeError(f"{probe!r} still fails in {venv_dir}")
    return python


def run_peer_script(python: str, script: str, config: dict) -> dict:
    """Run `benchmarks/<script>` under `python` with `config` as its JSON
    argument; returns the JSON of its last stdout line (after an optional
    'RESULT ' prefix). Raises with the tail of stderr when it fails."""
    done = subprocess.run(
        [python, os.path.join(HERE, script), json.dumps(config)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"{script} failed:\n{done.stderr[-3000:]}")
    last = done.stdout.strip().splitlines()[-1]
    return json.loads(last.removeprefix("RESULT "))


def print_result(seconds: list, returns: list, total_s: float, versions: dict):
    """A tuning peer's result line, read back by `run_peer_script`: per-trial
    wall seconds and returns, the whole search's seconds, package versions."""
    result = {"seconds": seconds, "returns": returns, "total_s": total_s}
    print("RESULT " + json.dumps({**result, "versions": versions}), flush=True)

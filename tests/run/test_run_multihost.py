"""Multi-host: two processes on the loopback address, 4 forced CPU devices each
(`jax.distributed.initialize` through `jaxmeta tune --coordinator`), give the
same members' returns and best config as one process with 8 devices."""

import csv
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

CONFIG = """
name = "hosts"
env = "CartPole-v1"
learner = "ppo"
searcher = "random"
population_size = 6
rounds = 2
num_updates = 4
chunk_size = 2
eval_episodes = 4
eval_max_steps = 100
[learner_config]
num_envs = 4
num_steps = 16
num_epochs = 1
num_minibatches = 2
hidden = [16]
[dims]
learning_rate = { kind = "log_uniform", low = 1e-4, high = 3e-2 }
[run]
checkpoint_every = 2
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(devices: int) -> dict:
    flags = os.environ.get("XLA_FLAGS", "")
    return dict(
        os.environ,
        XLA_FLAGS=f"{flags} --xla_force_host_platform_device_count={devices}",
    )


def _members(out):
    (run_dir,) = [os.path.join(out, d) for d in os.listdir(out)]
    with open(os.path.join(run_dir, "members.csv")) as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(run_dir, "best_config.json")) as f:
        best = json.load(f)
    with open(os.path.join(run_dir, "config.json")) as f:
        saved = json.load(f)
    return rows, best, saved


@pytest.mark.long
@pytest.mark.slow
def test_two_processes_of_4_devices_equal_one_process_of_8(tmp_path):
    config = tmp_path / "hosts.toml"
    config.write_text(CONFIG)
    command = [sys.executable, "-m", "jaxmeta.cli", "tune", str(config), "--quiet"]
    single = subprocess.run(
        [*command, "--out", str(tmp_path / "one")],
        env=_env(8),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    port = _free_port()
    processes = [
        subprocess.Popen(
            [
                *command,
                "--out",
                str(tmp_path / "two"),
                "--coordinator",
                f"127.0.0.1:{port}",
                "--num-processes",
                "2",
                "--process-id",
                str(i),
            ],
            env=_env(4),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in processes]
    for p, (_, err) in zip(processes, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    one, best_one, saved_one = _members(tmp_path / "one")
    two, best_two, saved_two = _members(tmp_path / "two")
    assert (saved_one["devices"], saved_one["processes"]) == (8, 1)
    assert (saved_two["devices"], saved_two["processes"]) == (8, 2)
    assert len(one) == len(two) == 12
    for column in ("learning_rate", "eval_return", "final_train_return"):
        a = np.array([float(r[column]) for r in one])
        b = np.array([float(r[column]) for r in two])
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5, err_msg=column)
    assert (best_one["round"], best_one["member"]) == (
        best_two["round"],
        best_two["member"],
    )
    np.testing.assert_allclose(
        best_two["eval_return"], best_one["eval_return"], rtol=1e-5
    )

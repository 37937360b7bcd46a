"""Checkpoint and resume: a run killed with SIGKILL at a random chunk and
resumed equals the uninterrupted run exactly (returns, best config, every CSV
row, none duplicated or missing); a corrupt or half-written newest checkpoint
falls back to the one before it; TensorBoard events and the learning-curve PNG
are written as the run goes."""

import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import time

import pytest

from jaxmeta.cli import main

FILES = ("metrics.csv", "members.csv", "best_config.json")


def _config(tmp_path, checkpoint_every):
    text = f"""
name = "resume"
env = "CartPole-v1"
learner = "ppo"
searcher = "bayes"
population_size = 3
rounds = 2
num_updates = 4
chunk_size = 1
eval_episodes = 4
eval_max_steps = 100
seed = 3
[learner_config]
num_envs = 8
num_steps = 32
num_epochs = 2
num_minibatches = 2
hidden = [16]
[searcher_config]
num_candidates = 32
fit_steps = 10
refine_steps = 2
[dims]
learning_rate = {{ kind = "log_uniform", low = 1e-4, high = 3e-2 }}
clip_eps = {{ kind = "uniform", low = 0.1, high = 0.3 }}
[run]
checkpoint_every = {checkpoint_every}
"""
    path = tmp_path / f"resume-{checkpoint_every}.toml"
    path.write_text(text)
    return str(path)


def _run(config, out, *extra):
    assert main(["tune", config, "--out", str(out), "--quiet", *extra]) == 0
    (run_dir,) = [os.path.join(out, d) for d in os.listdir(out)]
    return run_dir


def _assert_same_results(a, b):
    for name in FILES:
        with open(os.path.join(a, name)) as fa, open(os.path.join(b, name)) as fb:
            assert fa.read() == fb.read(), name


def _lines(path):
    try:
        with open(path) as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("reference")
    config = _config(tmp_path, checkpoint_every=2)
    return config, _run(config, tmp_path / "out")


def test_sigkill_at_a_random_chunk_then_resume_equals_uninterrupted(
    reference, tmp_path
):
    config, reference_dir = reference
    out = tmp_path / "killed"
    # 8 chunks of 3 members x 1 update: kill after chunk 1..6 has been written.
    chunk = random.Random().randint(1, 6)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jaxmeta.cli",
            "tune",
            config,
            "--out",
            str(out),
            "--quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 300
    run_dir = None
    while time.time() < deadline and process.poll() is None:
        if run_dir is None and out.exists() and os.listdir(out):
            run_dir = os.path.join(out, os.listdir(out)[0])
        if run_dir and _lines(os.path.join(run_dir, "metrics.csv")) >= 1 + 3 * chunk:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    code = process.wait(timeout=60)
    assert code == -signal.SIGKILL, (chunk, code, process.stderr.read()[-2000:])
    assert main(["resume", run_dir, "--quiet"]) == 0
    _assert_same_results(reference_dir, run_dir)


def test_resume_cuts_rows_back_and_skips_bad_checkpoints(reference, tmp_path):
    _, reference_dir = reference
    run_dir = str(tmp_path / "crashed")
    shutil.copytree(reference_dir, run_dir)
    checkpoints = os.path.join(run_dir, "checkpoints")
    assert sorted(map(int, os.listdir(checkpoints))) == [4, 6, 8]
    # A crash after chunk 8 whose last finished checkpoint is 6, with a
    # half-written 7 left behind: rows of chunks 7-8 are on disk already.
    shutil.rmtree(os.path.join(checkpoints, "8"))
    os.makedirs(os.path.join(checkpoints, "7.orbax-checkpoint-tmp-1234", "state"))
    # ... and checkpoint 6 corrupt: resume must warn and use 4.
    for folder, _, names in os.walk(os.path.join(checkpoints, "6", "state")):
        for name in names:
            with open(os.path.join(folder, name), "wb") as f:
                f.write(b"garbage")
    with pytest.warns(UserWarning, match="checkpoint 6 .* cannot be read"):
        assert main(["resume", run_dir, "--quiet"]) == 0
    _assert_same_results(reference_dir, run_dir)


def _scalar_tags(logdir):
    from tensorboardX.proto import event_pb2

    tags = set()
    for name in os.listdir(logdir):
        with open(os.path.join(logdir, name), "rb") as f:
            data = f.read()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            event = event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length])
            tags.update(v.tag for v in event.summary.value)
            offset += 12 + length + 4
    return tags


def test_tensorboard_and_png_written(reference):
    _, run_dir = reference
    tags = _scalar_tags(os.path.join(run_dir, "tensorboard"))
    assert {
        "population/episode_return_max",
        "member/000/episode_return",
        "population/failed",
        "round/best_eval_return",
    } <= tags
    png = os.path.join(run_dir, "learning_curve.png")
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"

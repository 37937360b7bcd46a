"""The MAML experiment (what `jaxmeta run maml` is) at a tiny size: files
and columns, a resumed run equal to the uninterrupted one, the pretrained
baseline's step, and bad configs refused before compiling."""

import os

import jax
import numpy as np
import pytest
from e2e_helpers import assert_resume_rewrites, read_csv

from jaxmeta.run import driver
from jaxmeta.run.catalog import build, get_experiment, start_run

SETTING = {"label": "nav", "env": "Navigation2D-v0",
           "env_options": {"max_step": 0.5, "goal_radius": 0.5,
                           "max_steps_in_episode": 8},
           "tasks": {"goal": [-2.0, 2.0], "arena_half_width": 2.0},
           "adapter": {"hidden": [8], "meta_batch_size": 2, "num_episodes": 2,
                       "horizon": 8},
           "hparams": {"outer_lr": 0.05}, "meta_iterations": 4, "eval_tasks": 3,
           "adapt_steps": 2}  # fmt: skip
METHODS = ["fomaml", "pretrained", "random"]
TINY = {"name": "maml", "seeds": 2, "chunks": 2, "convergence_window": 2,
        "methods": METHODS, "settings": [SETTING]}  # fmt: skip
TIMING = ("s_per_iteration", "wall_s_total", "wall_s_to_converge")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    experiment, _ = build("maml", TINY)
    options = driver.RunOptions(
        quiet=True, tensorboard=True, checkpoint_every=1, keep_checkpoints=10
    )
    run_dir, rows = start_run(experiment, str(tmp_path_factory.mktemp("m")), options)
    return experiment, run_dir, rows


@pytest.mark.long
def test_files_and_columns(finished):
    experiment, run_dir, rows = finished
    for name in ("table.md", "results.csv", "curves.csv", "adaptation.csv",
                 "convergence.csv", "maml.png", "tensorboard"):  # fmt: skip
        assert os.path.exists(os.path.join(run_dir, name)), name
    assert experiment.num_chunks == 3  # 2 meta-training chunks + 1 evaluation
    curves = read_csv(os.path.join(run_dir, "curves.csv"))
    # fomaml and pretrained train (random does not): 2 seeds x 4 iterations.
    assert len(curves) == 2 * 2 * 4
    assert list(curves[0]) == ["setting", "method", "seed", "iteration",
                               "post_return", "pre_return"]  # fmt: skip
    pretrained = [r for r in curves if r["method"] == "pretrained"]
    assert all(r["post_return"] == r["pre_return"] for r in pretrained)
    adaptation = read_csv(os.path.join(run_dir, "adaptation.csv"))
    assert len(adaptation) == 3 * 2 * 3  # methods x seeds x (K + 1)
    assert {(r["method"], int(r["adapt_step"])) for r in rows} == {
        (m, k) for m in ("fomaml", "pretrained", "random") for k in range(3)
    }
    for row in rows:  # returns are sums of negative distances over <= 8 steps
        assert row["seeds"] == 2 and -8 * 5.0 < row["return_mean"] < 0.0
    conv = read_csv(os.path.join(run_dir, "convergence.csv"))
    assert {r["method"] for r in conv} == {"fomaml", "pretrained"}
    table = experiment.summary(rows)
    assert "| random |" in table and "2 steps" in table


@pytest.mark.long
def test_random_is_every_method_s_start(finished):
    experiment, _, _ = finished
    state = experiment.init(jax.random.key(experiment.seed), _mesh())
    nav = state["population"]["nav"]
    for a, b in zip(jax.tree.leaves(nav["random"].params),
                    jax.tree.leaves(nav["fomaml"].params), strict=True):  # fmt: skip
        np.testing.assert_array_equal(a, b)


def _mesh():
    from jaxmeta.run.sharding import population_mesh

    return population_mesh()


@pytest.mark.long
def test_resume_equals_uninterrupted(finished, tmp_path):
    _, run_dir, _ = finished
    assert_resume_rewrites(
        run_dir,
        str(tmp_path / "resumed"),
        ("curves.csv", "adaptation.csv", "results.csv", "convergence.csv"),
        TIMING,
    )


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"methods": ["maml", "reptile"]}, "unknown methods entry"),
        ({"methods": ["maml", "maml"]}, "distinct"),
        ({"settings": [{**SETTING, "adapt_steps": -1}]}, "adapt_steps must be >= 0"),
        (
            {"settings": [{**SETTING, "env": "Acrobot-v1"}]},
            "has no task distribution",
        ),
        ({"settings": [{**SETTING, "env": "Navigation3D"}]}, "settings\\[0\\].env"),
        ({"settings": [{**SETTING, "meta_iterations": 3}]}, "must divide"),
        ({"settings": [{**SETTING, "adapter": {"tasks": {}}}]}, "may not set"),
        ({"settings": [{**SETTING, "adapter": {"hiden": [8]}}]}, "hiden"),
        ({"settings": [{**SETTING, "hparams": {"inner_lr": -1.0}}]}, "inner_lr"),
        ({"settings": [{**SETTING, "hparams": {"colour": 1.0}}]}, "colour"),
        ({"settings": [{**SETTING, "tasks": {"goal": [-3.0, 3.0]}}]}, "goal"),
        ({"seeds": 1}, "seeds must be >= 2"),
        ({"settings": [{**SETTING, "label": "nav"}, SETTING]}, "distinct"),
    ],  # fmt: skip
)
def test_bad_configs_are_refused(changes, match):
    with pytest.raises(ValueError, match=match):
        build("maml", {**TINY, **changes})


def test_named_experiments_build():
    for name in ("maml", "maml-full"):
        kind, values = get_experiment(name)
        experiment, _ = build(kind, values)
        assert values["seeds"] >= 5
        assert experiment.num_chunks == values["chunks"] + len(values["settings"])

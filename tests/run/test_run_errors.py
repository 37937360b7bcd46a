"""Bad input, a clear error: 44 kinds of malformed input through the API, the
config file and the CLI. Each raises ValueError or TypeError naming the field
(and the allowed values, with the closest name suggested) before any jaxmeta
program is traced; the CLI prints one line and exits 2. docs/errors.md lists
every case id here."""

import json
import os
import re

import jax.numpy as jnp
import pytest
from jax import monitoring

from jaxmeta.cli import main
from jaxmeta.envs import make
from jaxmeta.learners import PPO
from jaxmeta.run.catalog import build, quickstart, resume_run
from jaxmeta.run.population import train_population
from jaxmeta.run.tune import TuneConfig, TuneExperiment
from jaxmeta.search import Categorical

# Programs of jaxmeta that must not be traced before an input error is raised.
PROGRAMS = {
    "_begin_round",
    "_end_round",
    "_chunk_and_failures",
    "init_population",
    "train_chunk",
    "evaluate",
    "train",
    "train_from",
    "init",
    "ask",
    "tell",
}
TRACED = []
monitoring.register_event_duration_secs_listener(
    lambda name, _d, **kw: (
        TRACED.append(kw.get("fun_name"))
        if name.endswith("jaxpr_trace_duration")
        else None
    )
)


def _tiny():
    values = quickstart()
    values.update(
        name="errors",
        population_size=2,
        rounds=1,
        num_updates=2,
        chunk_size=1,
        eval_episodes=1,
        eval_max_steps=5,
    )
    values["learner_config"] = dict(
        num_envs=2, num_steps=4, num_epochs=1, num_minibatches=1, hidden=[8]
    )
    return values


def _set(path, value):
    def change(values):
        table = values
        *parents, last = path.split(".")
        for part in parents:
            table = table.setdefault(part, {})
        if value is DELETE:
            table.pop(last)
        else:
            table[last] = value
        return values

    return change


DELETE = object()

# id -> (change to the tiny config, --set form or None, expected message)
CONFIG_CASES = {
    "unknown-env": (
        _set("env", "CartPol-v1"),
        "env=CartPol-v1",
        r"unknown env name 'CartPol-v1'; did you mean 'CartPole-v1'",
    ),
    "unknown-learner": (
        _set("learner", "ppx"),
        "learner=ppx",
        r"unknown learner 'ppx'; did you mean 'ppo'\?.*reinforce",
    ),
    "unknown-searcher": (
        _set("searcher", "bayesian"),
        "searcher=bayesian",
        r"unknown searcher 'bayesian'; did you mean 'bayes'",
    ),
    "unknown-field": (
        _set("populaton_size", 4),
        "populaton_size=4",
        r"unknown tune config field 'populaton_size'; did you mean "
        r"'population_size'",
    ),
    "learner-config-typo": (
        _set("learner_config.num_env", 4),
        "learner_config.num_env=4",
        r"learner_config field 'num_env'; did you mean 'num_envs'",
    ),
    "searcher-config-typo": (
        _set("searcher_config.strategi", "SNES"),
        "searcher_config.strategi=SNES",
        r"searcher_config field 'strategi'; did you mean "
        r"'strategy'",
    ),
    "unknown-strategy": (
        _set("searcher_config.strategy", "CMA-ES"),
        "searcher_config.strategy=CMA-ES",
        r"unknown evosax strategy 'CMA-ES'; did you mean 'CMA_ES'",
    ),
    "empty-worker-group": (
        lambda v: _set("searcher_config", {"groups": {"opt": []}})(
            _set("searcher", "sam-hrl-hs")(v)
        ),
        None,
        r"groups.opt: an empty worker group; allowed: a non-empty list",
    ),
    "granularity-range": (
        lambda v: _set("searcher_config", {"granularities": [0.5, 0.0]})(
            _set("searcher", "sam-hrl-hs")(v)
        ),
        None,
        r"granularities must lie in \(0, 1\] \(allowed: 0 < g <= 1\), got 0.0",
    ),
    "calibration-rounds": (
        _set("calibration_rounds", 2),
        "calibration_rounds=2",
        r"calibration_rounds must be an int >= 3",
    ),
    "unknown-hparam": (
        _set("dims.learning_rat", {"kind": "uniform", "low": 0.1, "high": 0.2}),
        None,
        r"'learning_rat'; did you mean 'learning_rate'",
    ),
    "unknown-dim-kind": (
        _set("dims.clip_eps.kind", "unifrom"),
        "dims.clip_eps.kind=unifrom",
        r"dims.clip_eps.kind 'unifrom'; did you mean 'uniform'",
    ),
    "dim-missing-bound": (
        _set("dims.clip_eps.high", DELETE),
        None,
        r"dims.clip_eps \(uniform\) needs high",
    ),
    "dim-unknown-bound": (
        _set("dims.clip_eps.hi", 0.3),
        "dims.clip_eps.hi=0.3",
        r"dims.clip_eps field 'hi'; did you mean 'high'",
    ),
    "bound-negative": (
        _set("dims.learning_rate.low", -1e-3),
        "dims.learning_rate.low=-1e-3",
        r"LogUniform.low must be > 0",
    ),
    "bounds-inverted": (
        _set("dims.clip_eps.low", 0.5),
        "dims.clip_eps.low=0.5",
        r"Uniform.low must be < Uniform.high",
    ),
    "bounds-empty": (
        _set("dims.clip_eps.low", 0.3),
        "dims.clip_eps.low=0.3",
        r"Uniform.low must be < Uniform.high",
    ),
    "logit-above-one": (
        _set("dims.gamma.high", 1.0),
        "dims.gamma.high=1.0",
        r"Logit.high must be < 1",
    ),
    "bound-not-number": (
        _set("dims.clip_eps.low", "a"),
        "dims.clip_eps.low=a",
        r"Uniform.low must be a real number",
    ),
    "no-dims": (_set("dims", {}), None, r"dims must name at least one hparam"),
    "categorical-dim": (
        _set("dims.hidden", {"kind": "categorical", "choices": [[8], [16]]}),
        None,
        r"Categorical dims are not supported by tune",
    ),
    "categorical-on-hparam": (
        _set("dims.gamma", {"kind": "categorical", "choices": [0.9, 0.99]}),
        None,
        r"dims gamma: Categorical dims are not supported",
    ),
    "population-zero": (
        _set("population_size", 0),
        "population_size=0",
        r"population_size must be a positive integer, got 0",
    ),
    "population-type": (
        _set("population_size", "32"),
        'population_size="32"',
        r"population_size must be an int, got '32'",
    ),
    "rounds-zero": (_set("rounds", 0), "rounds=0", r"rounds must be a positive"),
    "chunk-zero": (
        _set("chunk_size", 0),
        "chunk_size=0",
        r"chunk_size must be a positive integer, got 0",
    ),
    "chunk-negative": (
        _set("chunk_size", -1),
        "chunk_size=-1",
        r"chunk_size must be a positive integer, got -1",
    ),
    "chunk-not-divisor": (
        _set("chunk_size", 3),
        "chunk_size=3",
        r"chunk_size \(3\) must divide num_updates \(2\); allowed "
        r"values: 1, 2",
    ),
    "eval-steps-zero": (
        _set("eval_max_steps", 0),
        "eval_max_steps=0",
        r"eval_max_steps must be a positive integer, got 0",
    ),
    "eval-episodes-zero": (
        _set("eval_episodes", 0),
        "eval_episodes=0",
        r"eval_episodes must be a positive",
    ),
    "bounds-inverted-returns": (
        _set("return_bounds", [500.0, 0.0]),
        "return_bounds=[500.0, 0.0]",
        r"return_bounds must have low < high",
    ),
    "bounds-one-value": (
        _set("return_bounds", [0.0]),
        "return_bounds=[0.0]",
        r"return_bounds must be \[low, high\]",
    ),
    "name-path-separator": (
        _set("name", "a/b"),
        "name=a/b",
        r"name must be one path component",
    ),
    "name-parent": (
        _set("name", "../../etc"),
        'name="../../etc"',
        r"name must be one path component.*'\.\./\.\./etc'",
    ),
    "learner-config-type": (
        _set("learner_config.num_envs", "8"),
        'learner_config.num_envs="8"',
        r"learner_config.num_envs must be an int, got '8'",
    ),
    "learner-config-value": (
        _set("learner_config.num_envs", 0),
        "learner_config.num_envs=0",
        r"num_envs must be a positive integer, got 0",
    ),
    "hidden-negative": (
        _set("learner_config.hidden", [-8]),
        "learner_config.hidden=[-8]",
        r"hidden must be positive",
    ),
    "activation-unknown": (
        _set("learner_config.activation", "swish"),
        "learner_config.activation=swish",
        r"activation must be one of \['gelu', 'relu', 'tanh'\]",
    ),
    "budget-over-int32": (
        _set("num_updates", 2**30),
        "num_updates=1073741824",
        r"env steps per member; allowed: at most 2147483647",
    ),
    "run-option-zero": (
        _set("run.checkpoint_seconds", 0),
        "run.checkpoint_seconds=0",
        r"run.checkpoint_seconds must be > 0",
    ),
    "run-option-unknown": (
        _set("run.checkpoint_evry", 1),
        "run.checkpoint_evry=1",
        r"unknown run field 'checkpoint_evry'; did you mean "
        r"'checkpoint_every'",
    ),
}


def _traced_programs():
    return sorted(set(TRACED) & PROGRAMS)


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_api_rejects_before_tracing(case):
    change, _, message = CONFIG_CASES[case]
    TRACED.clear()
    with pytest.raises((ValueError, TypeError), match=message):
        build("tune", change(_tiny()))
    assert not _traced_programs(), _traced_programs()


def _toml(values) -> str:
    import io

    out = io.StringIO()

    def value(v):
        return json.dumps(v)

    tables = {k: v for k, v in values.items() if isinstance(v, dict)}
    for k, v in values.items():
        if not isinstance(v, dict):
            out.write(f"{k} = {value(v)}\n")
    for name, table in tables.items():
        out.write(f"[{name}]\n")
        for k, v in table.items():
            if isinstance(v, dict):
                inner = ", ".join(f"{a} = {value(b)}" for a, b in v.items())
                out.write(f"{k} = {{ {inner} }}\n")
            else:
                out.write(f"{k} = {value(v)}\n")
    return out.getvalue()


def _cli(args, capsys):
    TRACED.clear()
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("jaxmeta: error: "), err
    assert "Traceback" not in err
    assert not _traced_programs(), _traced_programs()
    return lines[0]


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_config_file_and_cli_print_one_line_and_exit_2(case, tmp_path, capsys):
    change, override, message = CONFIG_CASES[case]
    path = tmp_path / "bad.toml"
    path.write_text(_toml(change(_tiny())))
    line = _cli(["tune", str(path), "--out", str(tmp_path / "runs")], capsys)
    assert re.search(message, line), line
    if override is not None:
        good = tmp_path / "good.toml"
        good.write_text(_toml(_tiny()))
        line = _cli(
            ["tune", str(good), "--set", override, "--out", str(tmp_path / "runs")],
            capsys,
        )
        assert re.search(message, line), line


def _bad_run_dir(tmp_path, kind):
    run_dir = tmp_path / "run"
    if kind == "missing":
        return str(tmp_path / "no-such-run")
    run_dir.mkdir()
    if kind == "corrupt":
        (run_dir / "config.json").write_text("{not json")
    if kind == "no-kind":
        (run_dir / "config.json").write_text(json.dumps({"config": {}}))
    return str(run_dir)


# id -> (argv builder, expected message)
CLI_CASES = {
    "resume-missing-dir": (
        lambda t: ["resume", _bad_run_dir(t, "missing")],
        r"run directory .*no-such-run' does not exist",
    ),
    "resume-not-a-run": (
        lambda t: ["resume", _bad_run_dir(t, "empty")],
        r"is not a jaxmeta run directory \(no config.json\)",
    ),
    "resume-corrupt-config": (
        lambda t: ["resume", _bad_run_dir(t, "corrupt")],
        r"config.json is corrupt \(not valid JSON",
    ),
    "resume-config-without-kind": (
        lambda t: ["resume", _bad_run_dir(t, "no-kind")],
        r"config.json is corrupt \(needs 'kind'",
    ),
    "config-file-missing": (
        lambda t: ["tune", str(t / "nope.toml")],
        r"config file .*nope.toml' does not exist",
    ),
    "config-file-not-toml": (
        lambda t: ["tune", _write(t, "c.yaml", "a: 1")],
        r"must be TOML",
    ),
    "config-file-bad-toml": (
        lambda t: ["tune", _write(t, "c.toml", "name = \n")],
        r"is not valid TOML",
    ),
    "set-without-equals": (
        lambda t: ["run", "quickstart", "--set", "rounds"],
        r"--set takes key=value, got 'rounds'",
    ),
    "unknown-experiment": (
        lambda t: ["run", "quickstrat"],
        r"unknown experiment 'quickstrat'; did you mean "
        r"'quickstart'",
    ),
    "unknown-command": (lambda t: ["tuen"], r"invalid choice: 'tuen'"),
    "bad-int-flag": (
        lambda t: ["run", "quickstart", "--seed", "x"],
        r"argument --seed: invalid int value",
    ),
}


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_inputs_print_one_line_and_exit_2(case, tmp_path, capsys):
    argv, message = CLI_CASES[case]
    line = _cli(argv(tmp_path), capsys)
    assert re.search(message, line), line


def test_resume_refuses_a_config_change(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    values = _tiny()
    (run_dir / "config.json").write_text(json.dumps({"kind": "tune", "config": values}))
    with pytest.raises(
        ValueError,
        match=r"--set population_size: a resumed run "
        r"keeps its config",
    ):
        resume_run(str(run_dir), ["population_size=64"])


def test_python_api_inputs():
    env, env_params = make("CartPole-v1")
    learner = PPO(env, num_envs=2, num_steps=4, num_minibatches=1)
    base = learner.default_hparams()
    partial = base.replace(learning_rate=jnp.full((3,), 1e-3))
    TRACED.clear()
    with pytest.raises(ValueError, match=r"not batched: clip_eps, ent_coef"):
        train_population(learner, None, partial, env_params, 2)
    batched = partial.replace(
        **{
            f: jnp.full((3,), getattr(base, f))
            for f in (
                "gamma",
                "gae_lambda",
                "clip_eps",
                "ent_coef",
                "vf_coef",
                "max_grad_norm",
            )
        }
    )
    with pytest.raises(ValueError, match=r"chunk_size \(3\) must divide"):
        train_population(learner, None, batched, env_params, 4, chunk_size=3)
    with pytest.raises(ValueError, match=r"chunk_size must be a positive"):
        train_population(learner, None, batched, env_params, 4, chunk_size=0)
    with pytest.raises(TypeError, match=r"config must be a TuneConfig"):
        TuneExperiment(_tiny())
    with pytest.raises(ValueError, match=r"dims must name"):
        TuneConfig(name="x", env="CartPole-v1", learner="ppo", dims={})
    with pytest.raises(ValueError, match=r"Categorical.choices must be distinct"):
        Categorical((8, 8))
    assert not _traced_programs(), _traced_programs()


def test_docs_table_lists_every_case():
    path = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "errors.md")
    text = open(path).read()
    for case in [*CONFIG_CASES, *CLI_CASES]:
        assert f"`{case}`" in text, case

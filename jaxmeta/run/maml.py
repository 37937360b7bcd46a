"""The MAML experiment on the run layer (issue 12; the MAML paper's Figure 5
and Directed-MAML's convergence claims): on every setting (an env with a
task distribution), MAML, FOMAML, Directed-MAML(-FOMAML), a multi-task
pretrained policy and a random initialisation; `seeds` meta-learners of each
train vmapped, chunk by chunk (the state is their `MetaState`s), then each is
adapted on the same held-out tasks for 0..K inner steps.

Chunks 0..chunks-1 run `meta_iterations / chunks` meta-iterations of every
(setting, method); chunk chunks + s evaluates setting s. Keys: seed i of
setting s starts every method from the same initialisation (so "random" is
the other methods' starting point) and meets the same held-out tasks and
evaluation keys in every method. Files (`run.maml_report`): curves.csv,
adaptation.csv, results.csv, convergence.csv, table.md, maml.png.
"""

import dataclasses
import time

import jax
import jax.numpy as jnp

from jaxmeta.adapt.base import meta_train_from
from jaxmeta.adapt.common.episodes import mean_return
from jaxmeta.adapt.common.inner import PolicyGradientStep
from jaxmeta.adapt.common.surrogate import discounted_value, importance_surrogate
from jaxmeta.adapt.maml import FOMAML
from jaxmeta.adapt.registry import make_adapter
from jaxmeta.envs import make
from jaxmeta.envs.tasks import task_distribution
from jaxmeta.learners.base import check_hparams, hparams_with
from jaxmeta.run import driver
from jaxmeta.run import maml_report as report_mod
from jaxmeta.run.maml_config import MAMLConfig
from jaxmeta.run.sharding import pad_population, padded_size

# Offsets folded into a setting's key: initialisation, meta-training, tasks.
_INIT, _TRAIN, _TASKS, _EVAL = 0, 1, 2, 3


@dataclasses.dataclass(frozen=True, eq=False)
class MultiTaskPretrained(FOMAML):
    """The MAML paper's "pretrained" baseline: one policy trained by plain
    policy gradient on the meta-batch's tasks, without adaptation. Its
    meta-iteration is FOMAML's outer step with no inner step: the REINFORCE
    (linear baseline) gradient of every task's return at the current
    params, averaged over the meta-batch, then the same Adam (or TRPO) step.
    It samples `(inner_steps + 1) * num_episodes` episodes per task, the env
    steps a MAML meta-iteration takes, so both get the same budget. `adapt`
    is FOMAML's: the same inner steps on held-out tasks."""

    @property
    def pretrain_step(self) -> PolicyGradientStep:
        return dataclasses.replace(
            self.policy_step, num_episodes=(self.inner_steps + 1) * self.num_episodes
        )

    def task_objective(self, key, meta, hparams, env_params, replay=None):
        """One task's policy-gradient surrogate at `meta[0]` (no inner step).
        Returns `([] surrogate, aux)` as `MAML.task_objective` (pre and post
        returns both the current policy's)."""
        pg, params = self.pretrain_step, meta[0]
        episodes = None if replay is None else replay[1]
        if episodes is None:
            episodes = pg.sample(key, jax.lax.stop_gradient(params), env_params)
        baseline = pg.baseline_of(episodes, hparams)
        log_prob = pg.log_prob(params, episodes)
        surrogate = importance_surrogate(log_prob, episodes, baseline, hparams.gamma)
        value = mean_return(episodes)
        aux = {
            "pre_return": value,
            "post_return": value,
            "value": discounted_value(episodes, hparams.gamma),
            "score": jnp.float32(0.0),
            "episodes": (None, episodes),
            "adapted": params,
        }
        return surrogate, aux


def _train(adapter, keys, states, hparams, num_iterations):
    return jax.vmap(meta_train_from, in_axes=(None, 0, 0, None, None))(
        adapter, keys, states, hparams, num_iterations
    )


def _evaluate(adapter, keys, states, hparams, tasks, num_steps):
    """Returns [seeds, tasks, num_steps + 1]: keys [seeds, tasks]."""

    def one_seed(keys, state):
        return jax.vmap(adapter.adapt, in_axes=(0, None, None, 0, None))(
            keys, state, hparams, tasks, num_steps
        )

    return jax.vmap(one_seed)(keys, states)


_train_jit = jax.jit(_train, static_argnums=(0, 4))
_evaluate_jit = jax.jit(_evaluate, static_argnums=(0, 5))
_init_jit = jax.jit(
    jax.vmap(lambda adapter, key, hparams: adapter.init(key, hparams),
             in_axes=(None, 0, None)),
    static_argnums=0,
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Setting:
    """One checked setting: its adapters and hparams per method, the
    evaluator (every method is adapted by the same inner step)."""

    spec: dict
    adapters: dict
    hparams: dict
    evaluator: object
    evaluator_hparams: object  # the inner step's (inner_lr, gamma, ...)
    tasks: object

    @property
    def label(self) -> str:
        return self.spec["label"]


def build_setting(spec: dict, where: str) -> Setting:
    """Adapters and hparams of every method of `spec` (ValueError naming
    the field for bad adapter options or hparams)."""
    env, env_params = make(spec["env"], **spec["env_options"])
    tasks = task_distribution(spec["env"], env_params, **spec["tasks"])
    options = {"tasks": tasks, **spec["adapter"]}
    adapters, hparams = {}, {}
    for method in spec["methods"]:
        if method == "pretrained":
            adapter = _pretrained(env, options)
        elif method == "random":
            adapter = make_adapter("fomaml", env, **options)
        else:
            adapter = make_adapter(method, env, **options)
        base = adapter.default_hparams()
        names = {f.name for f in dataclasses.fields(base)}
        values = {k: v for k, v in spec["hparams"].items() if k in names}
        adapters[method] = adapter
        hparams[method] = hparams_with(base, **values)
        check_hparams(adapter, hparams[method], f"{where}.hparams")
    known = set()
    for h in hparams.values():
        known |= {f.name for f in dataclasses.fields(h)}
    unknown = sorted(set(spec["hparams"]) - known)
    if unknown:
        raise ValueError(
            f"unknown {where}.hparams {unknown}; allowed values: {sorted(known)}"
        )
    evaluator = make_adapter("fomaml", env, **options)
    base = evaluator.default_hparams()
    names = {f.name for f in dataclasses.fields(base)}
    shared = hparams_with(
        base, **{k: v for k, v in spec["hparams"].items() if k in names}
    )
    return Setting(spec, adapters, hparams, evaluator, shared, tasks)


def _pretrained(env, options) -> MultiTaskPretrained:
    from jaxmeta.validation import checked_fields

    fields = checked_fields(MultiTaskPretrained, options, "adapter_config",
                            skip=("env",))  # fmt: skip
    return MultiTaskPretrained(env, **fields)


class MAMLExperiment(driver.ReportedBy):
    """The experiment on the driver (kind "maml")."""

    kind = "maml"
    headline = "done"
    report_module = report_mod

    def __init__(self, config: MAMLConfig):
        if not isinstance(config, MAMLConfig):
            raise TypeError(f"config must be a MAMLConfig, got {type(config).__name__}")
        self.config, self.seed = config, config.seed
        self.settings = [
            build_setting(spec, f"settings[{i}]")
            for i, spec in enumerate(config.settings)
        ]
        self.num_chunks = config.chunks + len(self.settings)

    def iterations_per_chunk(self, setting: Setting) -> int:
        return setting.spec["meta_iterations"] // self.config.chunks

    def _keys(self, key, s: int, part: int, mesh):
        seeds = self.config.seeds
        keys = jax.random.split(jax.random.fold_in(jax.random.fold_in(key, s), part),
                                seeds)  # fmt: skip
        return pad_population(keys, seeds, padded_size(seeds, mesh))

    def init(self, key, mesh):
        """Every method's `seeds` MetaStates per setting (seed i: the same
        initialisation key in every method)."""
        population = {}
        for s, setting in enumerate(self.settings):
            keys = self._keys(key, s, _INIT, mesh)
            population[setting.label] = {
                method: _init_jit(adapter, keys, setting.hparams[method])
                for method, adapter in setting.adapters.items()
            }
        return driver.place_state({"population": population, "shared": {}}, mesh)

    def step(self, key, state, chunk: int, mesh):
        """A meta-training chunk of every (setting, method), or setting
        `chunk - chunks`'s evaluation; outputs trimmed to the real seeds."""
        population = {k: dict(v) for k, v in state["population"].items()}
        seeds, outputs = self.config.seeds, {}
        for s, setting in enumerate(self.settings):
            label = setting.label
            if chunk >= self.config.chunks:
                if s == chunk - self.config.chunks:
                    outputs[label] = self._evaluate(key, s, setting, population[label])
                continue
            keys = self._keys(key, s, _TRAIN, mesh)
            outputs[label] = {}
            for method, adapter in setting.adapters.items():
                if method == "random":
                    continue
                began = time.perf_counter()
                states, metrics = _train_jit(
                    adapter, keys, population[label][method],
                    setting.hparams[method], self.iterations_per_chunk(setting),
                )  # fmt: skip
                population[label][method] = states
                out = {
                    "post_return": metrics["meta/post_return"][:seeds],
                    "pre_return": metrics["meta/pre_return"][:seeds],
                    "diverged": states.diverged[:seeds],
                }
                jax.block_until_ready(out)
                out["seconds"] = time.perf_counter() - began
                outputs[label][method] = out
        return {"population": population, "shared": state["shared"]}, outputs

    def held_out_tasks(self, key, s: int):
        """Setting s's held-out tasks (leaves `[eval_tasks, ...]`), the same
        for every method."""
        setting = self.settings[s]
        key_tasks = jax.random.fold_in(jax.random.fold_in(key, s), _TASKS)
        keys = jax.random.split(key_tasks, setting.spec["eval_tasks"])
        return jax.vmap(setting.tasks.sample)(keys)

    def _evaluate(self, key, s: int, setting: Setting, states: dict) -> dict:
        """Returns per method `returns` [seeds, eval_tasks, adapt_steps + 1]."""
        spec, seeds = setting.spec, self.config.seeds
        tasks = self.held_out_tasks(key, s)
        key_eval = jax.random.fold_in(jax.random.fold_in(key, s), _EVAL)
        keys = jax.random.split(key_eval, (seeds, spec["eval_tasks"]))
        hparams = setting.evaluator_hparams
        out = {}
        for method, member in states.items():
            real = jax.tree_util.tree_map(lambda x: x[:seeds], member)
            out[method] = {
                "returns": _evaluate_jit(
                    setting.evaluator, keys, real, hparams, tasks, spec["adapt_steps"]
                )
            }
        return out

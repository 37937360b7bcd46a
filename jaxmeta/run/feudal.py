"""FeUdal networks against a flat LSTM actor-critic on KeyDoor (a long
horizon, a sparse reward), and FuN without its intrinsic reward, on the
run layer (Vezhnevets et al. 2017 compare FuN with an LSTM A3C baseline).

Methods, `seeds` agents each, every agent `updates x num_envs x
num_steps` env steps: "fun-aX" (FuN at alpha = X, one per `alphas`),
"fun-no-intrinsic" (the same learner at alpha = 0: the worker sees only
the env's reward, the manager still learns by the transition policy
gradient) and "flat-lstm" (`lstm_a2c`, the same A2C update, rollout shape,
rate and discount). The FuN methods differ only in a traced hparam, so
they are one vmapped group (one compiled program); seed i gets the same
key in every method.
After each chunk the mean training return of the episodes that ended in
it comes back per agent. Files (`run.feudal_report`): curves.csv,
results.csv, table.md, feudal_keydoor.png.
"""

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.envs import make
from jaxmeta.learners import hparams_with
from jaxmeta.learners.base import check_hparams
from jaxmeta.learners.hierarchical.feudal import FeUdal
from jaxmeta.learners.lstm_a2c import LSTMA2C
from jaxmeta.run import driver
from jaxmeta.run import feudal_report as report_mod
from jaxmeta.run.config import dataclass_from_dict
from jaxmeta.run.population import MAX_ENV_STEPS, start_members_jit, train_members
from jaxmeta.run.results import check_run_name
from jaxmeta.run.sharding import pad_population, padded_size
from jaxmeta.validation import checked_fields, coerce

SHARED = ("num_envs", "num_steps")


@dataclasses.dataclass(frozen=True)
class FeudalConfig:
    """`seeds` agents per method on `env` (KeyDoor-v0 by default), `updates`
        updates in `chunks` chunks. `learner_config` (num_envs, num_steps) is
        both learners'; `fun_config` FeUdal's own fields (horizon, radius, ...),
        `flat_config` LSTMA2C's; `hparams` both learners' common numbers
        (learning_rate, gamma, gae_lambda, ent_coef, vf_coef, max_grad_norm),
        `fun_hparams` FuN's own (worker_gamma); `alphas` the intrinsic reward
    weights of the "fun-aX" methods (alpha = 0 is always run, as
    "fun-no-intrinsic")."""

    name: str
    env: str = "KeyDoor-v0"
    env_config: dict = dataclasses.field(default_factory=dict)
    seeds: int = 5
    updates: int = 400
    chunks: int = 10
    learner_config: dict = dataclasses.field(default_factory=dict)
    fun_config: dict = dataclasses.field(default_factory=dict)
    flat_config: dict = dataclasses.field(default_factory=dict)
    hparams: dict = dataclasses.field(default_factory=dict)
    fun_hparams: dict = dataclasses.field(default_factory=dict)
    alphas: tuple[float, ...] = (0.5, 0.05)
    seed: int = 0

    KIND = "feudal"

    def __post_init__(self):
        check_run_name(self.name)
        for field in ("seeds", "updates", "chunks"):
            if coerce(field, getattr(self, field), int) < 1:
                raise ValueError(f"{field} must be >= 1, got {getattr(self, field)!r}")
        if self.updates % self.chunks:
            raise ValueError(
                f"chunks ({self.chunks}) must divide updates ({self.updates})"
            )
        coerce("seed", self.seed, int)
        alphas = tuple(coerce("alphas", a, float) for a in self.alphas)
        if not alphas or any(a <= 0 for a in alphas) or len(set(alphas)) < len(alphas):
            raise ValueError(
                f"alphas must be distinct values > 0 (alpha = 0 always runs, "
                f"as fun-no-intrinsic), got {self.alphas!r}"
            )
        object.__setattr__(self, "alphas", alphas)
        unknown = set(self.learner_config) - set(SHARED)
        if unknown:
            raise ValueError(
                f"learner_config may set only {', '.join(SHARED)}; got "
                f"{sorted(unknown)} (use fun_config / flat_config)"
            )
        for field in ("fun_config", "flat_config"):
            fixed = (set(SHARED) | {"env"}) & set(getattr(self, field))
            if fixed:
                raise ValueError(
                    f"{field} may not set {sorted(fixed)}: they are learner_config's"
                )

    @classmethod
    def from_dict(cls, values: dict):
        return dataclass_from_dict(cls, values, "feudal config", required=("name",))

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["alphas"] = list(self.alphas)
        return out


class FeudalExperiment(driver.ReportedBy):
    """The experiment on the driver (kind "feudal")."""

    kind = "feudal"
    headline = "done"
    report_module = report_mod

    def __init__(self, config: FeudalConfig):
        if not isinstance(config, FeudalConfig):
            raise TypeError(
                f"config must be a FeudalConfig, got {type(config).__name__}"
            )
        self.config, self.seed = config, config.seed
        self.env, self.env_params = make(config.env, **config.env_config)
        shared = checked_fields(
            FeUdal, config.learner_config, "learner_config", ("env",)
        )
        fun_fields = checked_fields(FeUdal, config.fun_config, "fun_config", ("env",))
        flat_fields = checked_fields(
            LSTMA2C, config.flat_config, "flat_config", ("env",)
        )
        self.learners = {
            "fun": FeUdal(self.env, **shared, **fun_fields),
            "flat": LSTMA2C(self.env, **shared, **flat_fields),
        }
        fun_hp = hparams_with(
            self.learners["fun"].default_hparams(),
            **{**config.hparams, **config.fun_hparams},
        )
        flat_hp = hparams_with(
            self.learners["flat"].default_hparams(), **config.hparams
        )
        check_hparams(self.learners["fun"], fun_hp, "hparams / fun_hparams")
        check_hparams(self.learners["flat"], flat_hp, "hparams")
        self.hparams = {"fun": fun_hp, "flat": flat_hp}
        fun = self.learners["fun"]
        if config.updates * fun.steps_per_update > MAX_ENV_STEPS:
            raise ValueError(f"updates x steps per update must be <= {MAX_ENV_STEPS}")
        self.num_chunks = config.chunks
        self.updates_per_chunk = config.updates // config.chunks
        self.steps_per_chunk = self.updates_per_chunk * fun.steps_per_update
        # Members of each group and the method each belongs to.
        n = config.seeds
        self.alpha_of = {f"fun-a{a:g}": a for a in config.alphas}
        self.alpha_of["fun-no-intrinsic"] = 0.0
        self.methods = (*self.alpha_of, "flat-lstm")
        self.groups = {
            "fun": [m for m in self.alpha_of for _ in range(n)],
            "flat": ["flat-lstm"] * n,
        }

    def init(self, key, mesh):
        """Every group's agents started; seed i's key is the same in every
        method; FuN's members are each alpha's seeds in turn."""
        n = self.config.seeds
        seed_keys = jax.random.split(key, n)
        population = {}
        for group, methods in self.groups.items():
            count = len(methods)
            size = padded_size(count, mesh)
            keys = jnp.concatenate([seed_keys] * (count // n))
            keys = pad_population(keys, count, size)
            hparams = jax.tree_util.tree_map(
                lambda x, size=size: jnp.full((size,), x), self.hparams[group]
            )
            if group == "fun":
                alpha = [self.alpha_of[m] for m in methods]
                alpha = np.asarray(alpha + alpha[-1:] * (size - count), np.float32)
                hparams = hparams.replace(alpha=jnp.asarray(alpha))
            population[group] = start_members_jit(
                self.learners[group], keys, hparams, self.env_params, False
            )
        return driver.place_state({"population": population, "shared": {}}, mesh)

    def step(self, key, state, chunk: int, mesh):
        """`updates / chunks` updates of every agent; per agent the chunk's
        episode returns and counts per update."""
        population, outputs = dict(state["population"]), {}
        upc = self.updates_per_chunk
        for group, learner in self.learners.items():
            began = time.perf_counter()
            members, metrics = train_members(
                learner, population[group], self.env_params, chunk * upc, upc
            )
            population[group] = members
            count = len(self.groups[group])
            outputs[group] = {
                "episode_return": metrics["episode_return"][:count],
                "episodes": metrics["episodes"][:count],
                "failure": members["failure"]["code"][:count],
            }
            if group == "fun":
                outputs[group]["intrinsic"] = metrics["train/intrinsic_reward"][:count]
            jax.block_until_ready(outputs[group])
            outputs[group]["seconds"] = time.perf_counter() - began
        return {"population": population, "shared": state["shared"]}, outputs

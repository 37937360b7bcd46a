"""Episodes to target (seeds/000's table) on the run layer: for each env and
searcher, `seeds` tuning runs at one budget in env steps; then the config
each found trains on a fresh key and its episodes to the env's target are
counted, beside the tuned learner at its defaults, REINFORCE at its
defaults (the seed's REINFORCE row) and, for env tables with a `maml`
sub-table, the tuned learner at its defaults from MAML-meta-learned weights
(the seed's MAML row; `run.episodes_maml`, meta-trained after the tuning
runs, before the final training).

Each tuning run is the tune experiment itself (`run.tune.TuneExperiment`, or
`run.multi_fidelity.MultiFidelityExperiment` for successive halving), driven
chunk by chunk from this experiment's `step`: its state lives in this state
under "<env>/<label>" (one slot per env and searcher, reused by its seeds, so
the structure is fixed for checkpoints), its host record in this host. At a
run's last chunk the config it found (the best evaluation return; for
successive halving the best of the last rung, trained to the full budget)
is copied into `shared["found"]`. After an env's tuning runs, one vmapped
group trains every found config and the defaults, another the reference
learner, `final_env_steps` each in `final_chunks` chunks, each chunk ending
with a greedy evaluation over `final_eval_episodes` episodes.

Files (`run.episodes_report`): results.csv, trials.csv, table.md,
best_so_far.png.
"""

import time

import jax
import jax.numpy as jnp

from jaxmeta.learners import hparams_with
from jaxmeta.run import driver
from jaxmeta.run import episodes_report as report_mod
from jaxmeta.run.episodes_config import EpisodesConfig
from jaxmeta.run.episodes_maml import (
    meta_chunk_jit,
    meta_init_jit,
    meta_keys,
    meta_steps_per_chunk,
    with_meta_params,
)
from jaxmeta.run.episodes_setup import (
    EnvPart,
    Group,
    Where,
    broadcast,
    env_part,
    found_config,
    tuned_steps,
)
from jaxmeta.run.population import (
    evaluate_greedy_jit,
    start_members_jit,
    train_members,
)
from jaxmeta.run.sharding import pad_population, padded_size

META = -2  # `Where.searcher` of a MAML meta-training chunk (-1: final)
GROUP_INDEX = {"tuned": 0, "reference": 1, "maml": 2}  # in the groups' keys


class EpisodesExperiment(driver.ReportedBy):
    """The experiment on the driver (kind "episodes"). Building it checks the
    whole config (every env's target and tune configs, the final budgets)
    before anything compiles; `plan[c]` says what chunk c does."""

    kind = "episodes"
    headline = "stage"
    report_module = report_mod

    def __init__(self, config: EpisodesConfig):
        if not isinstance(config, EpisodesConfig):
            raise TypeError(
                f"config must be an EpisodesConfig, got {type(config).__name__}"
            )
        self.config, self.seed = config, config.seed
        self.parts = [
            env_part(spec, config, f"envs[{i}]") for i, spec in enumerate(config.envs)
        ]
        self.plan = []
        for e, part in enumerate(self.parts):
            for j, tuner in enumerate(part.tuners):
                for s in range(config.seeds):
                    n = tuner.num_chunks
                    self.plan += [Where(e, j, s, c, c == n - 1) for c in range(n)]
            if part.maml:
                n = part.spec["maml"]["chunks"]
                self.plan += [Where(e, META, 0, c, c == n - 1) for c in range(n)]
            n = part.spec["final_chunks"]
            self.plan += [Where(e, -1, 0, c, c == n - 1) for c in range(n)]
        self.num_chunks = len(self.plan)

    def slot(self, e: int, j: int) -> str:
        """The state key of env e's searcher j's tuning run."""
        return f"{self.config.envs[e]['env']}/{self.config.searchers[j]['label']}"

    def groups(self, part: EnvPart) -> list[Group]:
        """The final-training groups of an env: tuned, reference, maml."""
        return [g for g in (part.tuned, part.reference, part.maml) if g]

    def init(self, key, mesh):
        """Zero tuning slots and final groups of every env; `found` empty."""
        population, shared = {}, {"found": {}}
        zeros = lambda tree: jax.tree_util.tree_map(  # noqa: E731
            lambda s: jnp.zeros(s.shape, s.dtype), tree
        )
        for e, part in enumerate(self.parts):
            for j, tuner in enumerate(part.tuners):
                sub = jax.eval_shape(lambda t=tuner: t.init(key, mesh))
                population[self.slot(e, j)] = zeros(sub["population"])
                shared[self.slot(e, j)] = zeros(sub["shared"])
            seeds, dim = self.config.seeds, part.space.dim
            shared["found"][part.spec["env"]] = {
                "z": jnp.zeros((len(part.tuners), seeds, dim), jnp.float32),
                "eval_return": jnp.full((len(part.tuners), seeds), jnp.nan),
            }
            if part.maml:
                meta = jax.eval_shape(lambda p=part: self._meta_init(key, p, mesh))
                population[f"{part.spec['env']}/maml"] = zeros(meta)
            for group in self.groups(part):
                members = jax.eval_shape(
                    lambda g=group, p=part: self._init_group(
                        key, g, p, shared, mesh, population
                    )
                )
                population[f"{part.spec['env']}/final/{group.name}"] = zeros(members)
        return driver.place_state({"population": population, "shared": shared}, mesh)

    def _hparams(self, group: Group, part: EnvPart, shared):
        """[members] hparams of a group: found configs by (searcher, seed),
        then the defaults per seed; the reference's defaults per seed."""
        seeds = self.config.seeds
        if group.name == "maml":
            return broadcast(group.learner.default_hparams(), seeds)
        if group.name == "reference":
            ref = part.spec["reference"]
            base = hparams_with(
                group.learner.default_hparams(), **ref.get("hparams", {})
            )
            return broadcast(base, seeds)
        found = shared["found"][part.spec["env"]]["z"]
        tuned = part.space.to_hparams(found.reshape(-1, part.space.dim))
        defaults = broadcast(group.learner.default_hparams(), seeds)
        return jax.tree_util.tree_map(
            lambda a, b: jnp.concatenate([a, b.astype(a.dtype)]), tuned, defaults
        )

    def _init_group(self, key, group, part, shared, mesh, population):
        hparams = self._hparams(group, part, shared)
        count = len(group.labels) * self.config.seeds
        size = padded_size(count, mesh)
        index = self.parts.index(part) * 10 + GROUP_INDEX[group.name]
        keys = jax.random.split(jax.random.fold_in(key, 50_000 + index), count)
        members = start_members_jit(
            group.learner,
            pad_population(keys, count, size),
            pad_population(hparams, count, size),
            part.env_params,
            False,
        )
        if group.name == "maml":  # start from the meta-learned weights
            meta = population[f"{part.spec['env']}/maml"]
            members = with_meta_params(members, meta.params, count)
        return members

    def _meta_init(self, key, part, mesh):
        """[padded seeds] MetaStates of an env's MAML meta-learners."""
        seeds = self.config.seeds
        keys, _ = meta_keys(key, self.parts.index(part), seeds)
        keys = pad_population(keys, seeds, padded_size(seeds, mesh))
        return meta_init_jit(part.adapter, keys, part.meta_hparams)

    def step(self, key, state, chunk: int, mesh):
        """Chunk `chunk` of the plan: a tuning chunk or a final one."""
        where = self.plan[chunk]
        began = time.perf_counter()
        if where.searcher >= 0:
            state, outputs = self._tune_step(key, state, where, mesh)
        elif where.searcher == META:
            state, outputs = self._meta_step(key, state, where, mesh)
        else:
            state, outputs = self._final_step(key, state, where, mesh)
        jax.block_until_ready((state, outputs))
        outputs["seconds"] = time.perf_counter() - began
        return state, outputs

    def _tune_step(self, key, state, where, mesh):
        part = self.parts[where.env]
        tuner, name = part.tuners[where.searcher], self.slot(where.env, where.searcher)
        key_run = jax.random.fold_in(jax.random.fold_in(key, where.env), where.seed)
        if where.sub == 0:
            sub = self.start_tune(where, tuner, key_run, state, mesh)
        else:
            sub = {
                "population": state["population"][name],
                "shared": state["shared"][name],
            }
        sub, sub_out = tuner.step(key_run, sub, where.sub, mesh)
        population = {**state["population"], name: sub["population"]}
        shared = {**state["shared"], name: sub["shared"]}
        outputs = {"tune": sub_out, "env_steps": tuned_steps(tuner, where.sub)}
        if where.last:
            env = part.spec["env"]
            found, outputs["found"] = _found_jit(
                tuner, sub, mesh, shared["found"][env], where.searcher, where.seed
            )
            shared["found"] = {**shared["found"], env: found}
        return {"population": population, "shared": shared}, outputs

    def start_tune(self, where, tuner, key_run, state, mesh):
        """The state of (env, searcher, seed)'s tuning run before its first
        chunk: the tuner's own init. A subclass may start it elsewhere (a
        meta-trained searcher, `run.transfer`)."""
        del where, state
        return tuner.init(key_run, mesh)

    def _meta_step(self, key, state, where, mesh):
        """One chunk of every seed's MAML meta-training on env `where.env`."""
        part, seeds = self.parts[where.env], self.config.seeds
        name = f"{part.spec['env']}/maml"
        if where.sub == 0:
            meta = self._meta_init(key, part, mesh)
        else:
            meta = state["population"][name]
        _, keys = meta_keys(key, where.env, seeds)
        keys = pad_population(keys, seeds, padded_size(seeds, mesh))
        per_chunk = part.spec["maml"]["meta_iterations"] // part.spec["maml"]["chunks"]
        meta, post = meta_chunk_jit(
            part.adapter, keys, meta, part.meta_hparams, per_chunk
        )
        population = {**state["population"], name: meta}
        outputs = {
            "post_return": post[:seeds],
            "diverged": meta.diverged[:seeds],
            "env_steps": meta_steps_per_chunk(part.adapter, part.spec["maml"]),
        }
        return {"population": population, "shared": state["shared"]}, outputs

    def _final_step(self, key, state, where, mesh):
        part = self.parts[where.env]
        population, outputs = dict(state["population"]), {}
        for index, group in enumerate(self.groups(part)):
            name = f"{part.spec['env']}/final/{group.name}"
            if where.sub == 0:
                members = self._init_group(
                    key, group, part, state["shared"], mesh, state["population"]
                )
            else:
                members = population[name]
            upc, count = group.updates_per_chunk, len(group.labels) * self.config.seeds
            members, metrics = train_members(
                group.learner, members, part.env_params, where.sub * upc, upc
            )
            population[name] = members
            real = jax.tree_util.tree_map(lambda x, n=count: x[:n], members)
            returns, code = evaluate_greedy_jit(
                group.learner,
                jax.random.fold_in(
                    key, 70_000 + 100 * where.env + 10 * index + where.sub
                ),
                real["learner"],
                real["failure"],
                part.env_params,
                part.spec["final_eval_episodes"],
                part.spec["eval_max_steps"],
            )
            outputs[group.name] = {
                "metrics": {
                    k: metrics[k][:count] for k in ("episode_return", "episodes")
                },
                "eval_return": returns,
                "failure_code": code,
            }
        return {"population": population, "shared": state["shared"]}, outputs

    def result_rows(self, host) -> list[dict]:
        """One row per (env, method, seed): episodes to target and costs."""
        return host["results"]


def _store_found(tuner, sub_state, mesh, found, searcher, seed):
    """`found` ({"z": [S, seeds, dim], "eval_return": [S, seeds]}) with the
    config the finished run of (searcher, seed) found, and that config."""
    z, best = found_config(tuner, sub_state, mesh)
    new = {
        "z": found["z"].at[searcher, seed].set(z),
        "eval_return": found["eval_return"].at[searcher, seed].set(best),
    }
    return new, {"z": z, "eval_return": best}


# One program per tuner instead of a dozen eager ops per finished run.
_found_jit = jax.jit(_store_found, static_argnums=(0, 2))

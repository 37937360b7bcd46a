"""DIAYN (Eysenbach et al. 2018) on the run layer: skills without reward on
a 2-D point and on our continuous LunarLander, then a skill as the start of
SAC on a reward task.

Chunks `0 .. chunks - 1` train one vmapped group of `seeds` DIAYN agents per
(env, skill count). The last of them also evaluates every skill of every
agent: `eval_episodes` episodes of its stochastic policy (the one DIAYN
trained), the discriminator's label for each state until the episode ends,
and one episode of its mean action (the paths plotted, and the skill's
return on the env's reward). A skill is *distinguishable* when the trained
discriminator names it on at least `threshold` of the states its own
stochastic episodes visit (start states included, which no discriminator
can tell apart). The best skill of each `downstream_skills` agent on
`downstream_env` (highest mean-action return on the env reward) is folded
into a plain SAC (`skill_policy_params`: actor and critics, exactly) that
then trains on the reward, against SAC from scratch with the same keys and
hparams; both are evaluated greedily before and after each of the
`downstream_chunks` chunks. Files (`run.diayn_report`): accuracy.csv,
skills.csv, downstream.csv, table.md, diayn_accuracy.png, diayn_skills.png,
diayn_downstream.png.
"""

import time

import jax
import jax.numpy as jnp

from jaxmeta.envs import make
from jaxmeta.learners import SAC, hparams_with
from jaxmeta.learners.base import check_hparams
from jaxmeta.learners.hierarchical.diayn import DIAYN, skill_policy_params
from jaxmeta.run import diayn_report as report_mod
from jaxmeta.run import driver
from jaxmeta.run.diayn_config import DIAYNConfig
from jaxmeta.run.population import (
    evaluate_greedy_jit,
    start_members_jit,
    train_members,
)
from jaxmeta.run.sharding import pad_population, padded_size
from jaxmeta.validation import checked_fields

__all__ = ["DIAYNConfig", "DIAYNExperiment"]


def _skill_episode(learner, state, env_params, key, skill, steps, deterministic):
    """One episode of `skill` ([] int) from a DIAYN state: per step the
    discriminator's correctness [steps] bool, the step counted (before the
    episode ended) [steps] bool, the first two observation entries [steps, 2]
    and the env reward [steps]."""
    env = learner.env
    key_reset, key_steps = jax.random.split(key)
    obs, env_state = env.reset_with_skill(key_reset, env_params, skill)

    def body(carry, key):
        obs, env_state, alive = carry
        key_act, key_env = jax.random.split(key)
        correct = jnp.argmax(learner.log_q(state.params, obs)) == skill
        action = learner.act(key_act, state, obs[None], deterministic)[0]
        nxt, env_state, reward, terminated, truncated, _ = env.step(
            key_env, env_state, action, env_params
        )
        out = (correct, alive, obs[:2], jnp.where(alive, reward, 0.0))
        alive = alive & ~(terminated | truncated)
        return (nxt, env_state, alive), out

    init = (obs, env_state, jnp.asarray(True))
    _, out = jax.lax.scan(body, init, jax.random.split(key_steps, steps))
    return out


def _evaluate_skills(learner, states, env_params, key, episodes, steps):
    """Every member's every skill: stochastic episodes -> own-label accuracy
    [pop, K]; one mean-action episode -> return [pop, K] and path [pop, K,
    steps, 2] with its mask [pop, K, steps]."""
    skills = jnp.arange(learner.num_skills)

    def member(state, key):
        keys = jax.random.split(key, (learner.num_skills, episodes))

        def stochastic(skill, keys):
            run = lambda k: _skill_episode(  # noqa: E731
                learner, state, env_params, k, skill, steps, False
            )
            correct, alive, _, _ = jax.vmap(run)(keys)
            return jnp.sum(correct & alive) / jnp.maximum(jnp.sum(alive), 1)

        accuracy = jax.vmap(stochastic)(skills, keys)
        greedy = jax.vmap(
            lambda s: _skill_episode(learner, state, env_params, key, s, steps, True)
        )(skills)
        _, alive, path, reward = greedy
        return accuracy, jnp.sum(reward, -1), path, alive

    pop = jax.tree_util.tree_leaves(states)[0].shape[0]
    return jax.vmap(member)(states, jax.random.split(key, pop))


_evaluate_skills_jit = jax.jit(_evaluate_skills, static_argnums=(0, 4, 5))


def _transplant(learner, diayn_states, sac_members, best):
    """SAC members whose actor, critics and target critics are those of
    skill `best [pop]` of the DIAYN states."""
    folded = jax.vmap(lambda p, s: skill_policy_params(learner, p, s))(
        diayn_states.params, best
    )
    sac = sac_members["learner"]
    sac = sac.replace(params={**sac.params, **folded}, target_params=folded["critic"])
    return {**sac_members, "learner": sac}


_transplant_jit = jax.jit(_transplant, static_argnums=0)


class DIAYNExperiment(driver.ReportedBy):
    """The experiment on the driver (kind "diayn")."""

    kind = "diayn"
    headline = "done"
    report_module = report_mod

    def __init__(self, config: DIAYNConfig):
        if not isinstance(config, DIAYNConfig):
            raise TypeError(
                f"config must be a DIAYNConfig, got {type(config).__name__}"
            )
        self.config, self.seed = config, config.seed
        c = config
        self.envs = {name: make(name) for name in c.envs}
        self.groups, self.hparams = {}, {}
        fields = checked_fields(DIAYN, c.learner_config, "learner_config", ("env",))
        for env_name in c.envs:
            env = self.envs[env_name][0]
            for count in c.skills:
                learner = DIAYN(
                    env, num_envs=c.num_envs, num_steps=1, num_skills=count, **fields
                )
                hparams = hparams_with(learner.default_hparams(), **c.hparams)
                check_hparams(learner, hparams, "hparams")
                self.groups[f"{env_name}/{count}"] = learner
                self.hparams[f"{env_name}/{count}"] = hparams
        sac_fields = {
            k: v for k, v in fields.items()
            if k not in ("discriminator_hidden", "discriminator_dims", "fixed_alpha")
        }  # fmt: skip
        self.sac = SAC(self.envs[c.downstream_env][0], num_envs=c.num_envs,
                       num_steps=1, **sac_fields)  # fmt: skip
        sac_rates = {
            k: v for k, v in c.hparams.items() if k != "discriminator_learning_rate"
        }
        self.sac_hparams = hparams_with(self.sac.default_hparams(), **sac_rates)
        check_hparams(self.sac, self.sac_hparams, "hparams")
        self.source = f"{c.downstream_env}/{c.downstream_skills}"
        self.diayn_chunks = c.chunks
        self.num_chunks = c.chunks + c.downstream_chunks
        self.updates_per_chunk = c.updates // c.chunks
        self.downstream_per_chunk = c.downstream_updates // c.downstream_chunks
        self.downstream_steps = int(self.envs[c.downstream_env][1].max_steps_in_episode)

    def _start(self, learner, hparams, keys, size, env_params):
        batched = jax.tree_util.tree_map(lambda x: jnp.full((size,), x), hparams)
        return start_members_jit(learner, keys, batched, env_params, False)

    def init(self, key, mesh):
        """Every group's `seeds` agents and the two downstream SAC groups
        (seed i: the same key in every group)."""
        count = self.config.seeds
        size = padded_size(count, mesh)
        keys = pad_population(jax.random.split(key, count), count, size)
        population = {}
        for name, learner in self.groups.items():
            env_params = self.envs[name.split("/")[0]][1]
            population[name] = self._start(
                learner, self.hparams[name], keys, size, env_params
            )
        task = self.envs[self.config.downstream_env][1]
        for arm in ("scratch", "skill"):
            population[f"sac/{arm}"] = self._start(
                self.sac, self.sac_hparams, keys, size, task
            )
        return driver.place_state({"population": population, "shared": {}}, mesh)

    def step(self, key, state, chunk: int, mesh):
        """A chunk of DIAYN updates (the last also evaluates the skills and
        starts the skill arm), or a chunk of both downstream arms."""
        population, outputs = dict(state["population"]), {}
        c, count = self.config, self.config.seeds
        real = lambda tree: jax.tree_util.tree_map(lambda x: x[:count], tree)  # noqa: E731
        if chunk < self.diayn_chunks:
            upc = self.updates_per_chunk
            for name, learner in self.groups.items():
                began = time.perf_counter()
                env_params = self.envs[name.split("/")[0]][1]
                members, metrics = train_members(
                    learner, population[name], env_params, chunk * upc, upc
                )
                population[name] = members
                out = {
                    k: metrics[f"train/{k}"][:count].mean(axis=1)
                    for k in ("discriminator_accuracy", "pseudo_reward")
                }
                out["failure"] = members["failure"]["code"][:count]
                if chunk + 1 == self.diayn_chunks:
                    accuracy, ret, path, alive = _evaluate_skills_jit(
                        learner, real(members["learner"]), env_params,
                        jax.random.fold_in(key, chunk), c.eval_episodes, c.eval_steps,
                    )  # fmt: skip
                    out.update(own_accuracy=accuracy, skill_return=ret,
                               path=path[0], alive=alive[0])  # fmt: skip
                jax.block_until_ready(out)
                out["seconds"] = time.perf_counter() - began
                outputs[name] = out
            if chunk + 1 == self.diayn_chunks:
                outputs["initial"] = self._begin_downstream(key, population)
            return {"population": population, "shared": state["shared"]}, outputs
        first = (chunk - self.diayn_chunks) * self.downstream_per_chunk
        for arm in ("scratch", "skill"):
            began = time.perf_counter()
            name = f"sac/{arm}"
            members, metrics = train_members(
                self.sac, population[name], self.envs[c.downstream_env][1],
                first, self.downstream_per_chunk,
            )  # fmt: skip
            population[name] = members
            greedy = self._greedy(key, chunk, members)
            outputs[arm] = {"greedy": greedy,
                            "train": metrics["episode_return"][:count],
                            "failure": members["failure"]["code"][:count]}  # fmt: skip
            jax.block_until_ready(outputs[arm])
            outputs[arm]["seconds"] = time.perf_counter() - began
        return {"population": population, "shared": state["shared"]}, outputs

    def _greedy(self, key, chunk, members):
        returns, _ = evaluate_greedy_jit(
            self.sac, jax.random.fold_in(key, chunk), members["learner"],
            members["failure"], self.envs[self.config.downstream_env][1], 1,
            self.downstream_steps,
        )  # fmt: skip
        return returns[: self.config.seeds]

    def _begin_downstream(self, key, population):
        """Best skill per seed (padding rows too), folded into the skill arm;
        both arms' greedy returns before any downstream update."""
        learner, source = self.groups[self.source], population[self.source]
        env_params = self.envs[self.config.downstream_env][1]
        _, ret, _, _ = _evaluate_skills_jit(
            learner, source["learner"], env_params, key, 1, self.downstream_steps
        )
        best = jnp.argmax(ret, axis=1).astype(jnp.int32)
        population["sac/skill"] = _transplant_jit(
            learner, source["learner"], population["sac/skill"], best
        )
        chunk = self.diayn_chunks - 1
        return {
            "best": best[: self.config.seeds],
            "scratch": self._greedy(key, chunk, population["sac/scratch"]),
            "skill": self._greedy(key, chunk, population["sac/skill"]),
        }

    def result_rows(self, host) -> list[dict]:
        """One row per (group, seed, skill): accuracy, distinguishable."""
        self._host = host  # the summary table reads the downstream part too
        return report_mod.skill_rows(self, host)

    def summary(self, rows, top: int = 5) -> str:
        return report_mod.table(self, self._host)

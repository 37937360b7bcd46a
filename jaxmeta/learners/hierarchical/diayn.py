"""DIAYN, "Diversity is All You Need" (Eysenbach et al. 2018): skills learned
without reward by SAC on the pseudo-reward `log q(z|s') - log p(z)`.

Every episode draws a skill z ~ p(z), uniform over `num_skills`, and keeps it
(`envs.skills.SkillEnv`: the one-hot z is appended to the observation, so
SAC's actor and critics are conditioned on it). A discriminator q(z|s), an MLP
over the env's own observation (or the `discriminator_dims` of it, the
paper's "prior" on which state features tell skills apart), is trained by
cross-entropy to name the skill of the states the skills visit. Each SAC step
replaces the minibatch's env reward by `log q(z|s') - log p(z)` of the
discriminator as it is then (before its own step on the same minibatch),
so old transitions are rewarded by the current discriminator; the env reward
is never used (it is still reported as `episode_return`). With `fixed_alpha`
(default, as the paper) the temperature stays at `init_alpha` (0.1).

Everything else is SAC's (`learners/sac.py`): the state is a `SACState`
whose params hold one more network, "discriminator", with its Adam state.
`skill_policy_params` turns one skill's actor and critics into those of a
plain SAC on the unwrapped env (exactly: the one-hot input only adds a row of
the first layer to its bias), for the paper's "skill as initialisation".
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxmeta.envs.skills import SkillEnv
from jaxmeta.learners.common.on_policy import checked_hidden, float32_defaults
from jaxmeta.learners.sac import SAC, SACHParams, SACState
from jaxmeta.nets.mlp import MLP
from jaxmeta.validation import POSITIVE

SAC_PARTS = ("actor", "critic", "log_alpha")


@struct.dataclass
class DIAYNHParams(SACHParams):
    init_alpha: jax.Array = 0.1  # the paper's entropy scale
    discriminator_learning_rate: jax.Array = 3e-4


@dataclasses.dataclass(frozen=True)
class DIAYN(SAC):
    """Static DIAYN config: SAC's fields (`env` is the unwrapped env; it is
    stored wrapped in a `SkillEnv`), `num_skills` (>= 2), the discriminator's
    `discriminator_hidden` widths and `discriminator_dims` (indices into the
    flattened observation; None: all of it), `fixed_alpha`."""

    num_skills: int = 10
    discriminator_hidden: tuple[int, ...] = (256, 256)
    discriminator_dims: tuple[int, ...] | None = None
    fixed_alpha: bool = True

    hparam_domains = {
        **SAC.hparam_domains,
        "discriminator_learning_rate": POSITIVE,
    }

    def __post_init__(self):
        # Checked before the env is wrapped, so the error names the field.
        skills = self.num_skills
        if not isinstance(skills, int) or isinstance(skills, bool) or skills < 2:
            raise ValueError(
                f"num_skills must be an integer >= 2 (DIAYN tells skills apart), "
                f"got {skills!r}"
            )
        base = self.env.env if isinstance(self.env, SkillEnv) else self.env
        object.__setattr__(self, "env", SkillEnv(base, skills))
        super().__post_init__()
        hidden = checked_hidden(self.discriminator_hidden, self.activation)
        object.__setattr__(self, "discriminator_hidden", hidden)
        obs_dim = self.env.obs_dim
        dims = self.discriminator_dims
        if dims is not None:
            dims = tuple(dims)
            if not dims or any(
                not isinstance(d, int) or isinstance(d, bool) or not 0 <= d < obs_dim
                for d in dims
            ):
                raise ValueError(
                    f"discriminator_dims must be indices in [0, {obs_dim}) of the "
                    f"observation, got {self.discriminator_dims!r}"
                )
            object.__setattr__(self, "discriminator_dims", dims)
        if not isinstance(self.fixed_alpha, bool):
            raise ValueError(f"fixed_alpha must be a bool, got {self.fixed_alpha!r}")

    def default_hparams(self) -> DIAYNHParams:
        """Defaults as float32 scalars."""
        return float32_defaults(DIAYNHParams)

    def _discriminator(self):
        return MLP(self.discriminator_hidden, self.num_skills, self.activation, 0.01)

    def discriminator_input(self, obs):
        """The discriminator's features `[..., d]` of skill-conditioned
        observations `obs [..., obs_dim + num_skills]`."""
        own = obs[..., : self.env.obs_dim]
        if self.discriminator_dims is None:
            return own
        return own[..., jnp.asarray(self.discriminator_dims)]

    def skill_of(self, obs):
        """The skill `[...]` int32 of skill-conditioned observations."""
        return jnp.argmax(obs[..., self.env.obs_dim :], -1).astype(jnp.int32)

    def log_q(self, params, obs):
        """log q(z|s) `[..., num_skills]` of observations `[..., obs_dim +
        num_skills]` (only their own part is read)."""
        logits = self._discriminator().apply(
            params["discriminator"], self.discriminator_input(obs)
        )
        return jax.nn.log_softmax(logits, -1)

    def init(self, key, hparams: DIAYNHParams, env_params) -> SACState:
        """SAC's state over the skill env, plus the discriminator and its
        Adam state in `params` / `opt_state` under "discriminator"."""
        key_sac, key_disc = jax.random.split(key)
        state = super().init(key_sac, hparams, env_params)
        features = self.discriminator_input(state.env.obs[:1])
        disc = self._discriminator().init(key_disc, features)
        tx = optax.adam(hparams.discriminator_learning_rate)
        return state.replace(
            params={**state.params, "discriminator": disc},
            opt_state={**state.opt_state, "discriminator": tx.init(disc)},
        )

    def _sac_step(self, key, params, target_params, opt_state, batch, hparams, env):
        """SAC's step on the pseudo-reward, then the discriminator's step on
        the minibatch's next states; aux adds `discriminator_loss`,
        `discriminator_accuracy` and `pseudo_reward` (means over the batch)."""
        skill = self.skill_of(batch["obs"])
        log_q = self.log_q(params, batch["next_obs"])
        own = jnp.take_along_axis(log_q, skill[:, None], -1)[:, 0]
        reward = jax.lax.stop_gradient(own + jnp.log(float(self.num_skills)))
        sac_params = {k: params[k] for k in SAC_PARTS}
        sac_opt = {k: opt_state[k] for k in SAC_PARTS}
        new, new_target, new_opt, aux = super()._sac_step(
            key, sac_params, target_params, sac_opt, {**batch, "reward": reward},
            hparams, env,
        )  # fmt: skip
        if self.fixed_alpha:
            new["log_alpha"], new_opt["log_alpha"] = (
                params["log_alpha"],
                opt_state["log_alpha"],
            )

        features = self.discriminator_input(batch["next_obs"])
        disc, tx = (
            self._discriminator(),
            optax.adam(hparams.discriminator_learning_rate),
        )

        def loss_fn(disc_params):
            logits = disc.apply(disc_params, features)
            log_probs = jax.nn.log_softmax(logits, -1)
            return -jnp.mean(jnp.take_along_axis(log_probs, skill[:, None], -1))

        loss, grads = jax.value_and_grad(loss_fn)(params["discriminator"])
        updates, new_opt["discriminator"] = tx.update(grads, opt_state["discriminator"])
        new["discriminator"] = optax.apply_updates(params["discriminator"], updates)
        aux = {
            **aux,
            "discriminator_loss": loss,
            "discriminator_accuracy": jnp.mean(jnp.argmax(log_q, -1) == skill),
            "pseudo_reward": jnp.mean(reward),
        }
        return new, new_target, new_opt, aux


def _fold_first_dense(dense: dict, obs_dim: int, num_skills: int, skill):
    """A first Dense layer `{"kernel": [..., obs_dim + K + rest, h], "bias":
    [..., h]}` fed `[obs, one_hot(skill), rest]` -> the layer fed `[obs, rest]`
    with the same outputs: the skill's kernel row added to the bias."""
    kernel = dense["kernel"]
    row = jnp.take(kernel, obs_dim + skill, axis=-2)
    kept = jnp.concatenate(
        [kernel[..., :obs_dim, :], kernel[..., obs_dim + num_skills :, :]], axis=-2
    )
    return {**dense, "kernel": kept, "bias": dense["bias"] + row}


def _fold(tree: dict, path: tuple[str, ...], obs_dim, num_skills, skill) -> dict:
    if not path:
        return _fold_first_dense(tree, obs_dim, num_skills, skill)
    head, *rest = path
    return {**tree, head: _fold(tree[head], tuple(rest), obs_dim, num_skills, skill)}


def skill_policy_params(learner: DIAYN, params: dict, skill) -> dict:
    """One skill's networks as a plain SAC's on `learner.env.env` (same
    `hidden` and `activation`): {"actor", "critic"} with the skill input
    folded into the first layers' biases; `skill` [] int (traced is fine).
    SAC's actor on obs equals DIAYN's actor on `with_skill(obs, skill)`."""
    obs_dim, k = learner.env.obs_dim, learner.num_skills
    actor_path = ("params", "torso", "Dense_0")
    critic_path = ("params", "q", "MLP_0", "Dense_0")
    return {
        "actor": _fold(params["actor"], actor_path, obs_dim, k, skill),
        "critic": _fold(params["critic"], critic_path, obs_dim, k, skill),
    }

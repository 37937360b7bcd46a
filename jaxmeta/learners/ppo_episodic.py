"""PPO on batches of N whole episodes, with per-step features of its
batches: the inner learner of the trust-region meta-MDP when the
meta-action is PPO's clip range (`clip_eps`) instead of TRPO's KL bound.

The episodic update is `learners/common/episodic.py`'s, shared with
`EpisodicTRPO`: each update runs PPO's `num_epochs` of minibatch Adam on
B_t (padding steps weigh 0 in every mean), then rolls out B_{t+1}. Like
`EpisodicTRPO`, the policy is linear (`hidden=()`) or an MLP of at most 3
layers, and the critic has its own `critic_hidden`.

Metrics: PPO's, with `episode_return` = J_{t+1}, and one metric per feature
name.
"""

import dataclasses

from jaxmeta.learners.base import check_positive_ints
from jaxmeta.learners.common.episodic import Episodic
from jaxmeta.learners.common.on_policy import check_linear_or_mlp, checked_hidden
from jaxmeta.learners.ppo import PPO, PPOHParams
from jaxmeta.nets.mlp import Critic, check_activation


@dataclasses.dataclass(frozen=True)
class EpisodicPPO(Episodic, PPO):
    """`PPO` whose update is one meta-step (see `EpisodicTRPO`).

    num_envs: N, the episodes per step; num_steps: the rollout length (>=
    the episode length); features: static, as `EpisodicTRPO`'s.
    """

    num_envs: int = 64
    num_steps: int = 200
    critic_hidden: tuple[int, ...] = (64, 64)
    features: object = None

    def __post_init__(self):
        # OnPolicyLearner's checks, except that a linear policy is allowed.
        check_positive_ints(num_envs=self.num_envs, num_steps=self.num_steps)
        check_activation(self.activation)
        object.__setattr__(self, "hidden", check_linear_or_mlp(self.hidden))
        critic = checked_hidden(self.critic_hidden, self.activation)
        object.__setattr__(self, "critic_hidden", critic)
        self._check_ppo()
        self._check_episodic()

    def _critic(self):
        return Critic(self.critic_hidden, self.activation)

    def _base_init(self, key, hparams: PPOHParams, env_params):
        return PPO.init(self, key, hparams, env_params)

    def _batch(self, state, traj, env, hparams, valid=None):
        return self._gae_batch(state, traj, env, hparams, valid)

    def _step(self, key, state, batch, hparams: PPOHParams):
        return self.step_on_batch(key, state, batch, hparams)

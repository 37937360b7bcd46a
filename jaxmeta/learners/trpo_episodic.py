"""TRPO / xTRPO on batches of N whole episodes, with per-step features of
its batches (seeds/002's metafeatures): the inner learner of the
trust-region meta-MDP. The episodic update (the state keeps B_t, each
update ends with the rollout of B_{t+1}, `initial_metrics` gives phi_0 and
J_0) is `learners/common/episodic.py`'s, shared with `EpisodicPPO`.

Metrics: TRPO's, with `episode_return` = J_{t+1} (mean of the N returns),
and one metric per feature name (the metafeatures' `meta/<name>`).
"""

import dataclasses

from jaxmeta.learners.common.episodic import Episodic, EpisodicState
from jaxmeta.learners.trpo import TRPO, TRPOHParams

EpisodicTRPOState = EpisodicState


@dataclasses.dataclass(frozen=True)
class EpisodicTRPO(Episodic, TRPO):
    """`TRPO` (variant "trpo" or "xtrpo") whose update is one meta-step.

    num_envs: N, the episodes per step; num_steps: the rollout length (>=
    the episode length); features: see `learners/common/episodic.py`
    (static).
    """

    num_envs: int = 64
    num_steps: int = 200
    variant: str = "xtrpo"
    features: object = None

    def __post_init__(self):
        super().__post_init__()
        self._check_episodic()

    def _base_init(self, key, hparams: TRPOHParams, env_params):
        return TRPO.init(self, key, hparams, env_params)

    def _step(self, key, state, batch, hparams: TRPOHParams):
        return self.step_on_batch(state, batch, hparams)

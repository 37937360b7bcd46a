"""What the replay-buffer learners (SAC, DQN) share in their static config:
the checks of the common fields, `steps_per_update` and the policy head."""

from jaxmeta.learners.base import check_positive_ints
from jaxmeta.learners.common.on_policy import checked_hidden
from jaxmeta.learners.common.policy import PolicyHead, policy_head_for


def check_off_policy_config(config, discrete: bool, **more_positive_ints):
    """Check the fields every replay learner has (`num_envs`, `num_steps`,
    `gradient_steps`, `buffer_capacity`, `batch_size` positive ints,
    `learning_starts` >= 0, a buffer that holds one update, `hidden`), then
    `more_positive_ints`; set the checked `hidden` and the policy head `_head`
    on the frozen `config`, whose env must have `discrete` (True) or Box
    (False) actions. Raises ValueError naming the field."""
    check_positive_ints(
        num_envs=config.num_envs,
        num_steps=config.num_steps,
        gradient_steps=config.gradient_steps,
        buffer_capacity=config.buffer_capacity,
        batch_size=config.batch_size,
        **more_positive_ints,
    )
    starts = config.learning_starts
    if not isinstance(starts, int) or isinstance(starts, bool) or starts < 0:
        raise ValueError(
            f"learning_starts must be a non-negative integer, got {starts!r}"
        )
    per_update = config.num_envs * config.num_steps
    if config.buffer_capacity < per_update:
        raise ValueError(
            f"buffer_capacity ({config.buffer_capacity}) must hold one update's "
            f"num_envs * num_steps = {per_update} transitions"
        )
    hidden = checked_hidden(config.hidden, config.activation)
    object.__setattr__(config, "hidden", hidden)
    # Built once here, outside any trace: some envs (brax) build their action
    # space from jnp arrays, which are tracers when read inside jit.
    head = policy_head_for(config.env, config.env.default_params)
    object.__setattr__(config, "_head", head)
    if head.discrete != discrete:
        learner = type(config).__name__
        env = getattr(config.env, "name", type(config.env).__name__)
        if discrete:
            raise ValueError(
                f"{learner} needs a discrete action space; {env} has a "
                "continuous (Box) one"
            )
        raise ValueError(
            f"{learner} needs a continuous (Box) action space; {env} has "
            f"{head.action_dim} discrete actions"
        )


class ReplayLearnerConfig:
    """Mixin of a frozen replay-learner config with the fields checked by
    `check_off_policy_config`; its `__post_init__` calls that check."""

    @property
    def steps_per_update(self) -> int:
        """Env steps per update: `num_envs * num_steps`."""
        return self.num_envs * self.num_steps

    @property
    def head(self) -> PolicyHead:
        """Static action shapes (the bounds come from the env carry)."""
        return self._head

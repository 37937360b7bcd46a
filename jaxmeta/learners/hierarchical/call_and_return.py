"""Call-and-return execution, the policy carry (see
learners/common/evaluate.py) of the learners whose high level picks a
choice that then runs for several steps: option-critic's options (each
ends with probability beta_w(s) in every state it reaches, sampled in both
modes: termination belongs to the option, not to the action choice) and
h-DQN's subgoals (each ends when its state is reached). At an episode's
start, or when the running choice ends, the high level picks the next."""

import jax
import jax.numpy as jnp


def option_carry_init(num: int):
    """`(choice [num] int32, choose [num] bool)` before an episode's first
    step: nothing running yet."""
    return jnp.zeros(num, jnp.int32), jnp.ones(num, bool)


def call_and_return_step(key, carry, ends, pick, act_of):
    """One step of call-and-return execution in the current states.

    carry: `option_carry_init`'s or the previous step's; ends(key, choice
    [N]) -> [N] bool, the running choices that end here; pick(key) -> [N]
    the high level's choice here; act_of(key, choice [N]) -> actions [N].
    Returns `(actions [N], carry)`."""
    choice, choose = carry
    key_stop, key_pick, key_act = jax.random.split(key, 3)
    choose = choose | ends(key_stop, choice)
    choice = jnp.where(choose, pick(key_pick), choice)
    return act_of(key_act, choice), (choice, jnp.zeros_like(choose))


def terminates(beta_of):
    """`ends` for options: each ends with probability `beta_of(option)`
    ([N] -> [N] termination probabilities in the current states)."""

    def ends(key, option):
        return jax.random.uniform(key, option.shape) < beta_of(option)

    return ends

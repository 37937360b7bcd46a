"""Call-and-return execution of options, the policy carry (see
learners/common/evaluate.py) of the option-critic learners: the running
option acts until it terminates, with probability beta_w(s) in every state
it reaches (sampled in both modes: termination belongs to the option, not
to the action choice), or its episode starts; then the policy over options
picks the next one."""

import jax
import jax.numpy as jnp


def option_carry_init(num: int):
    """`(option [num] int32, choose [num] bool)` before an episode's first
    step: no option running yet."""
    return jnp.zeros(num, jnp.int32), jnp.ones(num, bool)


def call_and_return_step(key, carry, beta_of, pick, act_of):
    """One step of call-and-return execution in the current states.

    carry: `option_carry_init`'s or the previous step's; beta_of(option
    [N]) -> [N] the running options' termination probabilities here;
    pick(key) -> [N] the policy over options' choice here; act_of(key,
    option [N]) -> actions [N]. Returns `(actions [N], carry)`."""
    option, choose = carry
    key_stop, key_pick, key_act = jax.random.split(key, 3)
    stops = jax.random.uniform(key_stop, option.shape) < beta_of(option)
    option = jnp.where(choose | stops, pick(key_pick), option)
    return act_of(key_act, option), (option, jnp.zeros_like(choose))

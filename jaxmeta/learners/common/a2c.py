"""The advantage actor-critic (A2C, the synchronous A3C) loss terms on
precomputed network outputs, shared by the recurrent A2C learners (the flat
LSTM actor-critic and FeUdal networks' worker)."""

import jax
import jax.numpy as jnp


def a2c_terms(head, logits, value, action, advantage, target, hparams, normalize):
    """One policy-gradient step's loss on arrays of any leading shape `[...]`.

    head: the `PolicyHead`; logits: `[..., A]`; value, advantage, target:
    `[...]` (advantage and target are constants: gradients are stopped);
    hparams: `ent_coef`, `vf_coef`. normalize: standardise the advantages.
    Returns `(loss, (policy_loss, value_loss, entropy))`, each [].
    """
    adv = jax.lax.stop_gradient(advantage)
    if normalize:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    policy_loss = -jnp.mean(adv * head.log_prob(logits, action))
    value_loss = 0.5 * jnp.mean((value - jax.lax.stop_gradient(target)) ** 2)
    entropy = jnp.mean(head.entropy(logits))
    loss = policy_loss + hparams.vf_coef * value_loss - hparams.ent_coef * entropy
    return loss, (policy_loss, value_loss, entropy)

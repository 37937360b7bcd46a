"""PPO's clipped surrogate, value and entropy terms on precomputed network
outputs, so a learner whose outputs come from an unroll (a recurrent policy
over a rollout segment) shares the loss with the feed-forward PPO.

The terms are those of `learners.ppo.PPO._loss` (clipped ratio, optionally
clipped value loss, entropy bonus, approximate KL), written once on arrays
of any leading shape (``[B]`` flat or ``[T, N]`` sequences).
"""

import jax.numpy as jnp


def ppo_terms(
    head,
    out,
    value,
    batch: dict,
    hparams,
    normalize_advantages: bool = True,
    clip_value_loss: bool = True,
):
    """The clipped PPO loss of one minibatch.

    head: the `PolicyHead`; out: actor outputs for the minibatch's steps;
    value: [...] critic values of the same steps; batch: "action", "log_prob"
    (behaviour), "value" (behaviour), "advantage", "target", each [...]
    (leading shape of `value`); hparams: `clip_eps`, `vf_coef`, `ent_coef`.
    Returns `(loss, (policy_loss, value_loss, entropy, approx_kl))`, each [].
    """
    log_prob = head.log_prob(out, batch["action"])
    adv = batch["advantage"]
    if normalize_advantages:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    ratio = jnp.exp(log_prob - batch["log_prob"])
    clipped = jnp.clip(ratio, 1.0 - hparams.clip_eps, 1.0 + hparams.clip_eps)
    policy_loss = -jnp.mean(jnp.minimum(ratio * adv, clipped * adv))
    value_loss = (value - batch["target"]) ** 2
    if clip_value_loss:
        v_clip = batch["value"] + jnp.clip(
            value - batch["value"], -hparams.clip_eps, hparams.clip_eps
        )
        value_loss = jnp.maximum(value_loss, (v_clip - batch["target"]) ** 2)
    value_loss = 0.5 * jnp.mean(value_loss)
    entropy = jnp.mean(head.entropy(out))
    loss = policy_loss + hparams.vf_coef * value_loss - hparams.ent_coef * entropy
    approx_kl = jnp.mean((ratio - 1.0) - jnp.log(ratio))
    return loss, (policy_loss, value_loss, entropy, approx_kl)

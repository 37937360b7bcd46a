"""Outer (meta) optimisers: Adam, or TRPO as in Finn et al. (2017).

Both maximise the meta-objective over the meta-variables (the network's
initialisation and, with Meta-SGD, the per-parameter inner rates). Adam's
rate is the traced `hparams.outer_lr`, built inside the update so a
population of rates traces once. TRPO reuses the conjugate gradient of
`learners/trpo.py`: a natural-gradient step under a mean-KL bound
`hparams.max_kl` between the post-adaptation policies before and after the
step, and a backtracking line search that accepts the first fraction within
the bound that improves the objective (none: no step).
"""

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from jaxmeta.learners.trpo import conjugate_gradient

OUTER_OPTIMIZERS = ("adam", "trpo")


def adam_init(meta, hparams):
    """Adam's state for the meta-variables `meta` (any pytree)."""
    return optax.adam(hparams.outer_lr).init(meta)


def adam_ascent(meta, grad, opt_state, hparams):
    """One Adam step up the meta-gradient. Returns `(meta, opt_state)`."""
    tx = optax.adam(hparams.outer_lr)
    descent = jax.tree_util.tree_map(jnp.negative, grad)
    updates, opt_state = tx.update(descent, opt_state, meta)
    return optax.apply_updates(meta, updates), opt_state


def post_adaptation_kl(actor, head, old_actor, new_actor, episodes):
    """[] mean KL(pi_old || pi_new) over the valid steps of a meta-batch's
    post-adaptation episodes; old_actor, new_actor: adapted actor params with
    a leading task axis [M, ...]; episodes: leaves [M, T, N, ...]."""

    def task_kl(old, new, batch):
        out_old = actor.apply(old, batch.obs)
        kl = head.kl(out_old, actor.apply(new, batch.obs))
        return jnp.sum(kl * batch.valid), jnp.sum(batch.valid)

    total, count = jax.vmap(task_kl)(old_actor, new_actor, episodes)
    return jnp.sum(total) / jnp.maximum(jnp.sum(count), 1.0)


def trpo_ascent(
    objective, kl, meta, value, grad, hparams, cg_iters: int,
    line_search_steps: int, backtrack_ratio: float,
):  # fmt: skip
    """One natural-gradient step with a line search.

    objective(meta) -> [] and kl(meta) -> [] (mean KL from the policies at
    `meta`, 0 there) replay the recorded samples; value, grad: objective and
    its gradient at `meta`. Returns `(meta, info)`, info holding the step's
    `kl`, `step_fraction` (0: no step) and `improvement`.
    """
    flat, unravel = ravel_pytree(meta)
    flat_grad, _ = ravel_pytree(grad)
    kl_grad = jax.grad(lambda x: kl(unravel(x)))

    def fisher_vector(v):
        return jax.jvp(kl_grad, (flat,), (v,))[1] + hparams.cg_damping * v

    direction = conjugate_gradient(fisher_vector, flat_grad, cg_iters)
    curvature = jnp.maximum(direction @ fisher_vector(direction), 1e-12)
    full_step = jnp.sqrt(2.0 * hparams.max_kl / curvature) * direction

    def try_fraction(found, fraction):
        # lax.cond skips the replays once a fraction is accepted (unbatched).
        def evaluate(_):
            candidate = unravel(flat + fraction * full_step)
            return objective(candidate) - value, kl(candidate)

        def skip(_):
            return jnp.float32(0.0), jnp.float32(jnp.inf)

        gain, divergence = jax.lax.cond(found, skip, evaluate, None)
        ok = (~found) & jnp.isfinite(divergence) & (divergence <= hparams.max_kl)
        ok = ok & (gain > 0)
        return found | ok, (ok, gain, divergence)

    fractions = backtrack_ratio ** jnp.arange(line_search_steps, dtype=jnp.float32)
    found, (ok, gains, kls) = jax.lax.scan(try_fraction, jnp.asarray(False), fractions)
    first = jnp.argmax(ok)
    fraction = jnp.where(found, fractions[first], 0.0)
    info = {
        "kl": jnp.where(found, kls[first], 0.0),
        "step_fraction": fraction,
        "improvement": jnp.where(found, gains[first], 0.0),
    }
    return unravel(flat + fraction * full_step), info

"""Pieces shared by the gradient-based adapters (MAML family): episodes of a
policy on one task, the policy-gradient surrogates, the inner loop, task
sampling and the outer optimisers."""

"""Pieces shared by inner learners: rollouts, GAE, policies, normalisation."""

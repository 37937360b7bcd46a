"""Environments under the gymnax contract, adapters and task distributions."""

from jaxmeta.envs.registry import make, register, registered_names

__all__ = ["make", "register", "registered_names"]

"""Environments under the gymnax contract, adapters and task distributions."""

from jaxmeta.envs.registry import make, register, registered_names

register("Taxi-v3", "jaxmeta.envs.taxi:make_taxi")
register("LunarLander-v3", "jaxmeta.envs.lunar_lander:make_lunar_lander")
register(
    "LunarLanderContinuous-v3",
    "jaxmeta.envs.lunar_lander:make_lunar_lander_continuous",
)
register("FourRooms-options", "jaxmeta.envs.four_rooms:make_four_rooms")
register("StochasticChain-v0", "jaxmeta.envs.stochastic_chain:make_stochastic_chain")
register("Minigolf-v0", "jaxmeta.envs.minigolf:make_minigolf")
register("KeyDoor-v0", "jaxmeta.envs.key_door:make_key_door")
register("Elikoeidis-v0", "jaxmeta.envs.elikoeidis:make_elikoeidis")
register("Navigation2D-v0", "jaxmeta.envs.navigation2d:make_navigation2d")
register("Point2D-v0", "jaxmeta.envs.point2d:make_point2d")
register(
    "CartPoleContinuous-v1", "jaxmeta.envs.cartpole_continuous:make_cartpole_continuous"
)
register("brax-ant", "jaxmeta.envs.brax:make_brax_ant")
register("brax-halfcheetah", "jaxmeta.envs.brax:make_brax_halfcheetah")
register("brax-inverted_pendulum", "jaxmeta.envs.brax:make_brax_inverted_pendulum")
register("brax-hopper", "jaxmeta.envs.brax:make_brax_hopper")
register("brax-walker2d", "jaxmeta.envs.brax:make_brax_walker2d")
register("PointUMaze-v0", "jaxmeta.envs.point_maze:make_point_maze")
register("PointUMazeGoals-v0", "jaxmeta.envs.point_maze:make_point_maze_goals")

__all__ = ["make", "register", "registered_names"]

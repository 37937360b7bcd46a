"""PointUMaze: a point mass in the U-shaped maze of HIRO's AntMaze (Nachum et
al. 2018), with the ant replaced by a point whose action is its velocity.

The arena is 3 x 3 cells of side 1, ``[0, 3]^2``; a wall fills the cells
``[0, 2] x [1, 2]``, so the free space is a U: the bottom corridor (start,
``(0.5, 0.5)``), the right one and the top one (goal, ``(0.5, 2.5)``). The
straight line from start to goal crosses the wall, and the reward
``-||pos' - goal||`` (as AntMaze's) is deceptive: the nearest free point to
the goal in the start corridor is a dead end below the wall, 1.5 from the
goal, while the way round first moves away from it (up to 3.2).

An action ``[2]`` in ``[-1, 1]^2`` (clipped) moves the point by ``max_speed *
action``; each axis moves separately (x first), and a move that would leave
the arena or enter the wall is cancelled on that axis, so the point stops
short of walls. Episodes never terminate (as AntMaze's); they are truncated
after ``max_steps_in_episode`` (100) steps, and success is AntMaze's: the
point is within ``success_radius`` of the goal at the last step (scaled from
its 5 in cells of 8: 0.5 here). Observation ``[2]``: the position.

``goal_conditioned=True`` (``PointUMazeGoals-v0``) is AntMaze's training
setup: the observation is ``[4]`` = (position, goal), and with
``random_goal`` (its params' default there) every episode's goal is drawn
uniformly from the free space (HIRO trains on random targets and is
evaluated on the fixed far one: evaluate with ``random_goal=False``).
"""

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

ARENA = 3.0
WALL_LOW = jnp.array([0.0, 1.0])  # the wall's corners
WALL_HIGH = jnp.array([2.0, 2.0])
# The lower-left corners of the seven free cells (the U).
FREE_CELLS = jnp.array(
    [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [2.0, 1.0], [2.0, 2.0], [1.0, 2.0],
     [0.0, 2.0]]
)  # fmt: skip


@struct.dataclass
class PointMazeState(environment.EnvState):
    position: jax.Array  # [2]
    time: int
    goal: jax.Array  # [2] this episode's goal


@struct.dataclass
class PointMazeParams(environment.EnvParams):
    start: jax.Array = struct.field(default_factory=lambda: jnp.array([0.5, 0.5]))
    goal: jax.Array = struct.field(default_factory=lambda: jnp.array([0.5, 2.5]))
    start_noise: float = 0.1  # the start is drawn in start +- this, per axis
    max_speed: float = 0.15  # displacement per step and axis at |action| = 1
    success_radius: float = 0.5
    max_steps_in_episode: int = 100
    random_goal: bool = False  # draw each episode's goal (goal-conditioned only)


def is_free(position):
    """[] bool: `position [2]` lies in the arena and not inside the wall
    (points on the wall's boundary are free)."""
    in_arena = jnp.all((position >= 0.0) & (position <= ARENA))
    in_wall = jnp.all((position > WALL_LOW) & (position < WALL_HIGH))
    return in_arena & ~in_wall


def move(position, delta):
    """`position [2]` moved by `delta [2]`, x then y, each axis' move
    cancelled if it ends outside the free space. Returns [2]."""
    moved_x = position.at[0].add(delta[0])
    position = jnp.where(is_free(moved_x), moved_x, position)
    moved_y = position.at[1].add(delta[1])
    return jnp.where(is_free(moved_y), moved_y, position)


def success(position, params: PointMazeParams, goal=None):
    """[...] bool: `position [..., 2]` within `success_radius` of `goal`
    (default the params' goal)."""
    goal = params.goal if goal is None else goal
    distance = jnp.linalg.norm(position - goal, axis=-1)
    return distance < params.success_radius


def random_free_point(key):
    """[2]: a point drawn uniformly from the free space (a free cell, then a
    point in it)."""
    key_cell, key_point = jax.random.split(key)
    cell = jax.random.randint(key_cell, (), 0, FREE_CELLS.shape[0])
    return FREE_CELLS[cell] + jax.random.uniform(key_point, (2,))


class PointUMaze(environment.Environment[PointMazeState, PointMazeParams]):
    """Observation ``[2]`` = position (``[4]`` = position and goal when
    `goal_conditioned`), action ``[2]`` = velocity in [-1, 1]."""

    def __init__(self, goal_conditioned: bool = False):
        super().__init__()
        self.goal_conditioned = goal_conditioned

    @property
    def default_params(self) -> PointMazeParams:
        return PointMazeParams(random_goal=self.goal_conditioned)

    def step_env(self, key, state, action, params):
        """Move by `max_speed * clip(action [2], -1, 1)`; reward -distance to
        the goal after the move; never terminates."""
        velocity = jnp.clip(jnp.reshape(action, (2,)), -1.0, 1.0)
        position = move(state.position, params.max_speed * velocity)
        distance = jnp.linalg.norm(position - state.goal)
        new_state = state.replace(position=position, time=state.time + 1)
        info = {"distance": distance, "success": distance < params.success_radius}
        return (
            jax.lax.stop_gradient(self.get_obs(new_state)),
            jax.lax.stop_gradient(new_state),
            -distance,
            jnp.asarray(False),
            info,
        )

    def reset_env(self, key, params):
        key_start, key_goal = jax.random.split(key)
        noise = jax.random.uniform(
            key_start, (2,), minval=-params.start_noise, maxval=params.start_noise
        )
        goal = params.goal
        if self.goal_conditioned:
            goal = jnp.where(params.random_goal, random_free_point(key_goal), goal)
        state = PointMazeState(position=params.start + noise, time=0, goal=goal)
        return self.get_obs(state), state

    def get_obs(self, state, params=None, key=None):
        if self.goal_conditioned:
            return jnp.concatenate([state.position, state.goal]).astype(jnp.float32)
        return state.position.astype(jnp.float32)

    def is_terminated(self, state, params):
        return jnp.asarray(False)

    @property
    def name(self) -> str:
        return "PointUMazeGoals-v0" if self.goal_conditioned else "PointUMaze-v0"

    @property
    def num_actions(self) -> int:
        return 2

    def action_space(self, params=None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (2,), jnp.float32)

    def observation_space(self, params=None) -> spaces.Box:
        dims = 4 if self.goal_conditioned else 2
        return spaces.Box(0.0, ARENA, (dims,), jnp.float32)


def make_point_maze_goals(**param_overrides):
    """Registry factory of ``PointUMazeGoals-v0``: as `make_point_maze`, goal
    in the observation, `random_goal` True unless overridden."""
    return make_point_maze(goal_conditioned=True, **param_overrides)


def make_point_maze(goal_conditioned: bool = False, **param_overrides):
    """Registry factory: `(PointUMaze(goal_conditioned), PointMazeParams(**
    param_overrides))`; start and goal must be free points of shape (2,),
    max_speed in (0, 1] (a step shorter than the wall is thick), the other
    numbers positive; `random_goal` only with `goal_conditioned`."""
    env = PointUMaze(goal_conditioned)
    params = env.default_params.replace(**param_overrides)
    if not isinstance(params.random_goal, bool) or (
        params.random_goal and not goal_conditioned
    ):
        raise ValueError(
            "random_goal must be True or False, and True only for the "
            f"goal-conditioned maze (PointUMazeGoals-v0), got {params.random_goal!r}"
        )
    for name in ("start", "goal"):
        value = jnp.asarray(getattr(params, name), jnp.float32)
        if value.shape != (2,):
            raise ValueError(f"{name} must have shape (2,), got {value.shape}")
        if not bool(is_free(value)):
            raise ValueError(
                f"{name} must be a free point of the maze ([0, 3]^2 outside the "
                f"wall [0, 2] x [1, 2]), got {value.tolist()}"
            )
        params = params.replace(**{name: value})
    if not 0.0 < float(params.max_speed) <= 1.0:
        raise ValueError(f"max_speed must be in (0, 1], got {params.max_speed!r}")
    if not float(params.success_radius) > 0.0:
        raise ValueError(f"success_radius must be > 0, got {params.success_radius!r}")
    if not float(params.start_noise) >= 0.0:
        raise ValueError(f"start_noise must be >= 0, got {params.start_noise!r}")
    steps = params.max_steps_in_episode
    if not isinstance(steps, int) or isinstance(steps, bool) or steps <= 0:
        raise ValueError(
            f"max_steps_in_episode must be a positive integer, got {steps!r}"
        )
    return env, params

"""KeyDoor: a two-room gridworld with a locked door, a key and a distant goal,
the long-horizon sparse-reward task of FeUdal networks here (MiniGrid's
DoorKey in spirit; no JAX MiniGrid package is a dependency of jaxmeta).

The map is `height x width` cells with walls around it and a wall down
column `width // 2` whose one door is at row `height // 2`. The agent
starts in a uniformly drawn cell of the left room, the key lies in another
uniformly drawn cell of the left room, the goal is the right room's
bottom-right corner. Actions 0 up, 1 right, 2 down, 3 left; a move into a
wall, or into the door without the key, leaves the agent where it is.
Stepping on the key picks it up; with the key the door is open for good.
Reaching the goal pays `1 - 0.9 * t / max_steps_in_episode` (MiniGrid's
reward, t the steps taken) and ends the episode; every other step pays 0.

Observation (float32 `[2 * height * width + 1]`): the agent's cell one-hot,
the key's cell one-hot (all zeros once carried) and a has-key bit. The walls,
the door and the goal never move, so they are not in it.
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

# Action order as four_rooms: 0 up, 1 right, 2 down, 3 left.
DIRECTIONS = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]], dtype=np.int32)


@struct.dataclass
class KeyDoorState(environment.EnvState):
    pos: jax.Array  # int32 [2] (row, col)
    key_pos: jax.Array  # int32 [2]
    has_key: jax.Array  # [] bool
    time: int


@struct.dataclass
class KeyDoorParams(environment.EnvParams):
    max_steps_in_episode: int = 400


class KeyDoor(environment.Environment):
    """The env (shapes in the module docstring); `height`, `width` static."""

    def __init__(self, height: int = 9, width: int = 15):
        super().__init__()
        if not isinstance(height, int) or not isinstance(width, int):
            raise ValueError("height and width must be integers")
        if height < 5 or width < 7:
            raise ValueError(
                f"height must be >= 5 and width >= 7 (two rooms of at least 2x3 "
                f"cells), got height={height}, width={width}"
            )
        self.height, self.width = height, width
        self.wall_col, self.door = width // 2, (height // 2, width // 2)
        self.goal = (height - 2, width - 2)
        walls = np.zeros((height, width), bool)
        walls[[0, -1], :] = walls[:, [0, -1]] = True
        walls[:, self.wall_col] = True
        walls[self.door] = False
        self.walls = walls
        left = [(r, c) for r in range(1, height - 1) for c in range(1, self.wall_col)]
        self.left_cells = np.asarray(left, np.int32)  # [L, 2]

    @property
    def default_params(self) -> KeyDoorParams:
        return KeyDoorParams()

    def step_env(self, key, state: KeyDoorState, action, params: KeyDoorParams):
        """One move; the key is picked up on arrival, the door needs it."""
        move = jnp.asarray(DIRECTIONS)[jnp.asarray(action, jnp.int32)]
        target = state.pos + move
        wall = jnp.asarray(self.walls)[target[0], target[1]]
        at_door = jnp.all(target == jnp.asarray(self.door))
        blocked = wall | (at_door & ~state.has_key)
        pos = jnp.where(blocked, state.pos, target).astype(jnp.int32)
        has_key = state.has_key | jnp.all(pos == state.key_pos)
        time = state.time + 1
        at_goal = jnp.all(pos == jnp.asarray(self.goal))
        reward = jnp.where(at_goal, 1.0 - 0.9 * time / params.max_steps_in_episode, 0.0)
        new_state = KeyDoorState(pos=pos, key_pos=state.key_pos, has_key=has_key,
                                 time=time)  # fmt: skip
        info = {"discount": 1.0 - at_goal.astype(jnp.float32)}
        return (
            jax.lax.stop_gradient(self.get_obs(new_state)),
            jax.lax.stop_gradient(new_state),
            reward.astype(jnp.float32),
            at_goal,
            info,
        )

    def reset_env(self, key, params: KeyDoorParams):
        """Agent and key in two distinct uniform cells of the left room."""
        count = self.left_cells.shape[0]
        key_agent, key_key = jax.random.split(key)
        agent = jax.random.randint(key_agent, (), 0, count)
        other = jax.random.randint(key_key, (), 0, count - 1)
        other = other + (other >= agent)  # skip the agent's cell
        cells = jnp.asarray(self.left_cells)
        state = KeyDoorState(pos=cells[agent], key_pos=cells[other],
                             has_key=jnp.asarray(False), time=0)  # fmt: skip
        return self.get_obs(state), state

    def get_obs(self, state: KeyDoorState, params=None, key=None) -> jax.Array:
        """float32 [2 * height * width + 1]: agent one-hot, key one-hot (zero
        once carried), has-key bit."""
        cells = self.height * self.width
        agent = jax.nn.one_hot(state.pos[0] * self.width + state.pos[1], cells)
        key_cell = state.key_pos[0] * self.width + state.key_pos[1]
        key_hot = jax.nn.one_hot(key_cell, cells) * (1.0 - state.has_key)
        bit = state.has_key.astype(jnp.float32)[None]
        return jnp.concatenate([agent, key_hot, bit]).astype(jnp.float32)

    def is_terminal(self, state: KeyDoorState, params: KeyDoorParams) -> jax.Array:
        at_goal = jnp.all(state.pos == jnp.asarray(self.goal))
        return at_goal | (state.time >= params.max_steps_in_episode)

    def is_truncated(self, state: KeyDoorState, params: KeyDoorParams) -> jax.Array:
        at_goal = jnp.all(state.pos == jnp.asarray(self.goal))
        return (state.time >= params.max_steps_in_episode) & ~at_goal

    @property
    def name(self) -> str:
        return "KeyDoor-v0"

    @property
    def num_actions(self) -> int:
        return 4

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(4)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (2 * self.height * self.width + 1,), jnp.float32)

    def shortest_steps(self, pos, key_pos) -> int:
        """Fewest moves from `pos` via `key_pos` to the goal (host-side BFS),
        for tests and the experiment's optimum."""
        first = self._bfs(tuple(pos), has_key=False)[tuple(key_pos)]
        return first + self._bfs(tuple(key_pos), has_key=True)[self.goal]

    def _bfs(self, start, has_key: bool) -> dict:
        distance, frontier = {start: 0}, [start]
        while frontier:
            nxt = []
            for r, c in frontier:
                for dr, dc in DIRECTIONS:
                    cell = (r + dr, c + dc)
                    if self.walls[cell] or (cell == self.door and not has_key):
                        continue
                    if cell not in distance:
                        distance[cell] = distance[(r, c)] + 1
                        nxt.append(cell)
            frontier = nxt
        return distance


def make_key_door(height: int = 9, width: int = 15, max_steps_in_episode: int = 400):
    """Registry factory for "KeyDoor-v0". Returns `(KeyDoor, KeyDoorParams)`."""
    if not isinstance(max_steps_in_episode, int) or max_steps_in_episode < 1:
        raise ValueError(
            f"max_steps_in_episode must be a positive integer, got "
            f"{max_steps_in_episode!r}"
        )
    env = KeyDoor(height, width)
    return env, KeyDoorParams(max_steps_in_episode=max_steps_in_episode)

"""Four Rooms for options (Sutton, Precup and Singh 1999), on gymnax's map.

gymnax's ``FourRooms-misc`` checked against the paper's rooms example:

- Layout: same. A 13x13 map whose 11x11 interior holds 104 open cells: rooms of
  5x5 (top left), 5 wide x 6 tall (top right), 5x5 (bottom left) and 5 wide x 4
  tall (bottom right), joined by four one-cell hallways at (row, col) (3, 6),
  (6, 2), (7, 9) and (10, 6). We reuse gymnax's map unchanged.
- Transition noise: same. gymnax replaces the action by a uniform random one with
  probability ``4/3 * fail_prob`` (fail_prob = 1/3), so the intended move happens
  with probability 2/3 and each other direction with 1/9, as in the paper; a move
  into a wall leaves the agent in place. Ours samples the same distribution
  directly (``fail_prob`` is the total probability of an unintended move).
- Reward: same. 1 on entering the goal (which ends the episode), 0 otherwise.
  The paper's discount, gamma = 0.9, belongs to the learner; it is `DISCOUNT`.
- Goal: differs. gymnax fixes it at (8, 9), inside the bottom-right room. The
  paper's point is that hallway options reach hallway goals in one option step,
  so our default goal is the east hallway (7, 9) between the two right-hand
  rooms, and ``goal=(row, col)`` picks any open cell (a cell in a room's
  interior gives the paper's other case, a goal no option targets). The seed
  text we have does not fix the paper's goal coordinates; this is our choice.
- Start: differs. gymnax starts every episode at (4, 1) unless
  ``resample_init_pos``; ours starts uniformly over the open cells other than
  the goal (``random_start=False`` restores a fixed ``start``).
- Observation: differs. gymnax returns ``[row, col, goal_row, goal_col]``; ours
  returns the cell index in 0..103 (row-major over open cells) for tabular and
  options learners, or its one-hot (``obs_mode="one_hot"``), or gymnax's
  coordinates (``obs_mode="coords"``). gymnax's visual observation writes the
  agent at ``[col, row]`` (transposed); we do not offer pixels.
- Hallways and rooms: absent from gymnax. `room_of`, `hallway_cells` and
  `hallway_options` provide them. Following the paper, each room has two
  hallway options, one per hallway of the room: its initiation set is the room
  plus the room's other hallway, its policy is a shortest path (under intended
  moves) to the target hallway, and it terminates with probability 1 outside
  the room (both hallways included), 0 inside.
- Tasks: `FourRoomsGoalTasks` draws the goal (any open cell, a hallway, or a
  room cell); the paper reuses the same options across goals.
"""

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces
from gymnax.environments.misc.rooms import EnvState, FourRooms, four_rooms_map

DISCOUNT = 0.9
# Action order as gymnax: 0 up, 1 right, 2 down, 3 left.
DIRECTIONS = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]], dtype=np.int32)
HALLWAYS = np.array([[3, 6], [6, 2], [7, 9], [10, 6]], dtype=np.int32)
DEFAULT_GOAL = (7, 9)
OBS_MODES = ("index", "one_hot", "coords")

_OPEN = np.array([[c == " " for c in row] for row in four_rooms_map.split("\n")[1:]])
CELLS = np.argwhere(_OPEN).astype(np.int32)  # [104, 2] (row, col), row-major
NUM_CELLS = CELLS.shape[0]
CELL_INDEX = np.full(_OPEN.shape, -1, dtype=np.int32)  # [13, 13], -1 on walls
CELL_INDEX[CELLS[:, 0], CELLS[:, 1]] = np.arange(NUM_CELLS)


def _next_cell_table() -> np.ndarray:
    """int32 [104, 4]: cell reached by moving each way (same cell at a wall)."""
    target = CELLS[:, None, :] + DIRECTIONS[None, :, :]
    index = CELL_INDEX[target[..., 0], target[..., 1]]
    return np.where(index >= 0, index, np.arange(NUM_CELLS)[:, None]).astype(np.int32)


NEXT_CELL = _next_cell_table()
hallway_cells = CELL_INDEX[HALLWAYS[:, 0], HALLWAYS[:, 1]]  # int32 [4]


def _label_rooms() -> np.ndarray:
    """int32 [104]: room id 0 top-left, 1 top-right, 2 bottom-left,
    3 bottom-right; -1 for hallway cells. Rooms are the connected components
    left when the hallways are removed."""
    labels = np.full(NUM_CELLS, -1, dtype=np.int32)
    blocked = set(hallway_cells.tolist())
    seeds = [CELL_INDEX[1, 1], CELL_INDEX[1, 7], CELL_INDEX[7, 1], CELL_INDEX[8, 7]]
    for room, seed in enumerate(seeds):
        frontier = [int(seed)]
        while frontier:
            cell = frontier.pop()
            if labels[cell] >= 0 or cell in blocked:
                continue
            labels[cell] = room
            frontier.extend(int(c) for c in NEXT_CELL[cell])
    if np.sum(labels >= 0) != NUM_CELLS - len(blocked):
        raise AssertionError("four-rooms map does not split into four rooms")
    return labels


ROOM_OF_CELL = _label_rooms()


def room_of(cell):
    """Room id (0-3) of a cell index (int or int array, any shape); -1 for a
    hallway cell. Same shape as ``cell``."""
    return jnp.asarray(ROOM_OF_CELL)[cell]


class HallwayOptions(NamedTuple):
    """The paper's eight hallway options, two per room (option k = 2*room + j)."""

    initiation: np.ndarray  # bool [8, 104]
    termination: np.ndarray  # float32 [8, 104], beta(s)
    policy: np.ndarray  # int32 [8, 104], action (meaningful where initiated)
    target: np.ndarray  # int32 [8], target hallway cell index
    room: np.ndarray  # int32 [8]


def _room_hallways(room: int) -> list[int]:
    """The two hallway cell indices adjacent to `room`."""
    return [int(h) for h in hallway_cells if np.any(ROOM_OF_CELL[NEXT_CELL[h]] == room)]


def hallway_options() -> HallwayOptions:
    """Build the 8 hallway options (shapes in `HallwayOptions`)."""
    initiation, termination, policy, target, rooms = [], [], [], [], []
    for room in range(4):
        doors = _room_hallways(room)
        for j, goal in enumerate(doors):
            inside = ROOM_OF_CELL == room
            start_ok = inside.copy()
            start_ok[doors[1 - j]] = True
            # Breadth-first distances to the target inside room + both doors.
            region = start_ok.copy()
            region[goal] = True
            distance = np.full(NUM_CELLS, np.iinfo(np.int32).max, dtype=np.int64)
            distance[goal] = 0
            frontier = [goal]
            while frontier:
                nxt = []
                for cell in frontier:
                    for neighbour in range(NUM_CELLS):
                        moves_here = NEXT_CELL[neighbour] == cell
                        if region[neighbour] and moves_here.any():
                            if distance[neighbour] > distance[cell] + 1:
                                distance[neighbour] = distance[cell] + 1
                                nxt.append(neighbour)
                frontier = nxt
            # argmin picks the lowest action index among equally short moves.
            policy.append(np.argmin(distance[NEXT_CELL], axis=1).astype(np.int32))
            initiation.append(start_ok)
            termination.append((~inside).astype(np.float32))
            target.append(goal)
            rooms.append(room)
    return HallwayOptions(
        np.stack(initiation),
        np.stack(termination),
        np.stack(policy),
        np.asarray(target, np.int32),
        np.asarray(rooms, np.int32),
    )


@struct.dataclass
class FourRoomsParams(environment.EnvParams):
    goal: jax.Array = struct.field(default_factory=lambda: jnp.array(DEFAULT_GOAL))
    start: jax.Array = struct.field(default_factory=lambda: jnp.array([4, 1]))
    fail_prob: float = 1.0 / 3.0
    random_start: bool = True
    max_steps_in_episode: int = 500


class FourRoomsOptions(FourRooms):
    """gymnax's FourRooms with the paper's defaults and an index observation.

    State: gymnax's ``EnvState(pos int32 [2], goal int32 [2], time)``.
    Obs: int32 [] cell index ("index"), float32 [104] ("one_hot") or
    int32 [4] (row, col, goal_row, goal_col) ("coords").
    """

    def __init__(self, obs_mode: str = "index"):
        super().__init__()
        if obs_mode not in OBS_MODES:
            raise ValueError(f"obs_mode must be one of {OBS_MODES}, got {obs_mode!r}")
        self.obs_mode = obs_mode

    @property
    def default_params(self) -> FourRoomsParams:
        return FourRoomsParams()

    def step_env(self, key, state: EnvState, action, params: FourRoomsParams):
        """Intended direction w.p. 1 - fail_prob, each other w.p. fail_prob/3."""
        key_fail, key_other = jax.random.split(key)
        action = jnp.asarray(action, jnp.int32)
        offset = jax.random.randint(key_other, (), 1, 4)
        fail = jax.random.uniform(key_fail) < params.fail_prob
        direction = jnp.where(fail, (action + offset) % 4, action)
        cell = jnp.asarray(CELL_INDEX)[state.pos[0], state.pos[1]]
        new_cell = jnp.asarray(NEXT_CELL)[cell, direction]
        pos = jnp.asarray(CELLS)[new_cell]
        at_goal = jnp.all(pos == state.goal)
        new_state = EnvState(pos=pos, goal=state.goal, time=state.time + 1)
        info = {"discount": 1.0 - at_goal.astype(jnp.float32)}
        return (
            self.get_obs(new_state),
            new_state,
            at_goal.astype(jnp.float32),
            (at_goal),
            info,
        )

    def reset_env(self, key, params: FourRoomsParams):
        """Uniform start over open cells other than the goal (or fixed start)."""
        goal = jnp.asarray(params.goal, jnp.int32)
        goal_cell = jnp.asarray(CELL_INDEX)[goal[0], goal[1]]
        # Draw among the 103 other cells, then skip over the goal's index.
        draw = jax.random.randint(key, (), 0, NUM_CELLS - 1)
        cell = draw + (draw >= goal_cell)
        pos = jnp.where(
            params.random_start, jnp.asarray(CELLS)[cell], params.start
        ).astype(jnp.int32)
        state = EnvState(pos=pos, goal=goal, time=0)
        return self.get_obs(state), state

    def get_obs(self, state: EnvState, params=None, key=None) -> jax.Array:
        """See the class docstring for shapes per `obs_mode`."""
        cell = jnp.asarray(CELL_INDEX)[state.pos[0], state.pos[1]]
        if self.obs_mode == "one_hot":
            return jax.nn.one_hot(cell, NUM_CELLS, dtype=jnp.float32)
        if self.obs_mode == "coords":
            return jnp.concatenate([state.pos, state.goal]).astype(jnp.int32)
        return cell

    @property
    def name(self) -> str:
        return "FourRooms-options"

    def observation_space(self, params: FourRoomsParams):
        if self.obs_mode == "one_hot":
            return spaces.Box(0.0, 1.0, (NUM_CELLS,), jnp.float32)
        if self.obs_mode == "coords":
            return spaces.Box(0, 12, (4,), jnp.int32)
        return spaces.Discrete(NUM_CELLS)


GOAL_SETS = ("all", "hallways", "rooms")


@dataclasses.dataclass(frozen=True)
class FourRoomsGoalTasks:
    """Task distribution over goals: ``sample(key) -> FourRoomsParams`` with the
    goal uniform over `goal_set` ("all" open cells, the 4 "hallways", or the 100
    "rooms" cells), other fields from `base_params`."""

    goal_set: str = "all"
    base_params: FourRoomsParams = dataclasses.field(default_factory=FourRoomsParams)

    def __post_init__(self):
        if self.goal_set not in GOAL_SETS:
            raise ValueError(
                f"goal_set must be one of {GOAL_SETS}, got {self.goal_set!r}"
            )

    def sample(self, key: jax.Array) -> FourRoomsParams:
        """One task; goal int32 [2]. vmap over keys for a batch."""
        if self.goal_set == "hallways":
            candidates = hallway_cells
        elif self.goal_set == "rooms":
            candidates = np.flatnonzero(ROOM_OF_CELL >= 0)
        else:
            candidates = np.arange(NUM_CELLS)
        choice = jax.random.choice(key, jnp.asarray(candidates, jnp.int32))
        return self.base_params.replace(goal=jnp.asarray(CELLS)[choice])


def _check_cell(field: str, value) -> tuple[int, int]:
    cell = tuple(int(v) for v in np.asarray(value).reshape(-1))
    if len(cell) != 2 or not (0 <= cell[0] < 13 and 0 <= cell[1] < 13):
        raise ValueError(f"{field} must be a (row, col) inside the 13x13 map")
    if CELL_INDEX[cell] < 0:
        raise ValueError(f"{field}={cell} is a wall; allowed: an open cell")
    return cell


def make_four_rooms(
    obs_mode: str = "index",
    goal=DEFAULT_GOAL,
    start=None,
    fail_prob: float = 1.0 / 3.0,
    max_steps_in_episode: int = 500,
):
    """Registry factory for "FourRooms-options".

    goal, start: (row, col) open cells; ``start=None`` draws the start uniformly
    over the other open cells. Returns ``(FourRoomsOptions, FourRoomsParams)``.
    """
    goal = _check_cell("goal", goal)
    if start is not None:
        start = _check_cell("start", start)
        if start == goal:
            raise ValueError("start must differ from goal")
    if not 0.0 <= fail_prob < 1.0:
        raise ValueError(f"fail_prob must be in [0, 1), got {fail_prob}")
    if not isinstance(max_steps_in_episode, int) or max_steps_in_episode < 1:
        raise ValueError("max_steps_in_episode must be a positive int")
    params = FourRoomsParams(
        goal=jnp.array(goal, jnp.int32),
        start=jnp.array(start if start is not None else (4, 1), jnp.int32),
        fail_prob=fail_prob,
        random_start=start is None,
        max_steps_in_episode=max_steps_in_episode,
    )
    return FourRoomsOptions(obs_mode), params

"""Taxi-v3 (Dietterich 2000), faithful to Gymnasium's deterministic Taxi.

The 5x5 map, with walls ``|`` and four stands R(0,0), G(0,4), Y(4,0), B(4,3):

    +---------+
    |R: | : :G|
    | : | : : |
    | : : : : |
    | | : | : |
    |Y| : |B: |
    +---------+

State index ``((taxi_row * 5 + taxi_col) * 5 + passenger) * 4 + destination``
(500 states); passenger 0-3 is a stand, 4 is in the taxi. Actions: 0 south,
1 north, 2 east, 3 west, 4 pickup, 5 dropoff. Reward -1 per step, +20 for a
delivery (which terminates), -10 for an illegal pickup or dropoff. Dropping the
passenger at a stand that is not the destination is legal (-1) and leaves them
there. Episodes start uniformly over the 300 states whose passenger waits at a
stand that is not the destination, and are truncated after 200 steps, as
Gymnasium's ``TimeLimit``.

Gymnasium 1.3 registers only ``Taxi-v4``; with its ``is_rainy`` and
``fickle_passenger`` options off (their defaults, and Taxi-v3's only behaviour
before those options existed) v3 and v4 have the same transitions, and that is
what this module reproduces bit for bit (tests/envs/test_envs_taxi.py checks
every state-action pair and random episodes). The rainy and fickle variants are
not implemented.

`encode` and `decode` are pure functions on jax or Python integers, for MAXQ's
state abstraction.
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

NUM_ROWS = 5
NUM_COLS = 5
NUM_STANDS = 4
IN_TAXI = 4
NUM_STATES = NUM_ROWS * NUM_COLS * (NUM_STANDS + 1) * NUM_STANDS
NUM_ACTIONS = 6
# (row, col) of stands R, G, Y, B.
STANDS = np.array([[0, 0], [0, 4], [4, 0], [4, 3]], dtype=np.int32)
# EAST_OPEN[r, c]: the taxi in (r, c) may move east (no wall, not the border).
# A west move from (r, c) is allowed iff an east move from (r, c - 1) is.
EAST_OPEN = np.array(
    [
        [1, 0, 1, 1, 0],
        [1, 0, 1, 1, 0],
        [1, 1, 1, 1, 0],
        [0, 1, 0, 1, 0],
        [0, 1, 0, 1, 0],
    ],
    dtype=bool,
)
OBS_MODES = ("index", "one_hot")


def encode(taxi_row, taxi_col, passenger, destination):
    """State index of a decomposed state; works on ints or int arrays of any
    (broadcast) shape.

    taxi_row, taxi_col in 0..4; passenger in 0..4 (4 = in taxi); destination 0..3.
    Returns the index in 0..499, same shape.
    """
    return ((taxi_row * NUM_COLS + taxi_col) * (NUM_STANDS + 1) + passenger) * (
        NUM_STANDS
    ) + destination


def decode(state):
    """Inverse of `encode`: ``state`` (int or int array, any shape) ->
    ``(taxi_row, taxi_col, passenger, destination)``, each the same shape."""
    destination = state % NUM_STANDS
    rest = state // NUM_STANDS
    passenger = rest % (NUM_STANDS + 1)
    rest = rest // (NUM_STANDS + 1)
    return rest // NUM_COLS, rest % NUM_COLS, passenger, destination


def initial_state_support() -> np.ndarray:
    """Sorted state indices an episode can start in: int32 [300]."""
    rows, cols, passengers, destinations = decode(np.arange(NUM_STATES))
    start = (passengers < NUM_STANDS) & (passengers != destinations)
    del rows, cols
    return np.flatnonzero(start).astype(np.int32)


def transition(state, action):
    """Deterministic Taxi dynamics.

    state, action: int32 arrays of the same shape. Returns
    ``(next_state int32, reward float32, terminated bool)``, each that shape.
    """
    row, col, passenger, destination = decode(state)
    east_open = jnp.asarray(EAST_OPEN)
    stands = jnp.asarray(STANDS)
    can_east = east_open[row, col]
    can_west = (col > 0) & east_open[row, jnp.maximum(col - 1, 0)]
    new_row = jnp.where(action == 0, jnp.minimum(row + 1, NUM_ROWS - 1), row)
    new_row = jnp.where(action == 1, jnp.maximum(row - 1, 0), new_row)
    new_col = jnp.where((action == 2) & can_east, col + 1, col)
    new_col = jnp.where((action == 3) & can_west, col - 1, new_col)

    at_stand = (row[..., None] == stands[:, 0]) & (col[..., None] == stands[:, 1])
    stand_here = jnp.argmax(at_stand, axis=-1)
    on_any_stand = jnp.any(at_stand, axis=-1)
    in_taxi = passenger == IN_TAXI

    pickup_ok = (passenger < NUM_STANDS) & on_any_stand & (stand_here == passenger)
    delivered = in_taxi & on_any_stand & (stand_here == destination)
    dropoff_ok = in_taxi & on_any_stand

    is_pickup = action == 4
    is_dropoff = action == 5
    new_passenger = jnp.where(is_pickup & pickup_ok, IN_TAXI, passenger)
    new_passenger = jnp.where(is_dropoff & dropoff_ok, stand_here, new_passenger)
    illegal = (is_pickup & ~pickup_ok) | (is_dropoff & ~dropoff_ok)
    terminated = is_dropoff & delivered
    reward = jnp.where(terminated, 20.0, jnp.where(illegal, -10.0, -1.0))
    next_state = encode(new_row, new_col, new_passenger, destination)
    return next_state.astype(jnp.int32), reward.astype(jnp.float32), terminated


def action_mask(state):
    """Gymnasium's ``info["action_mask"]``: which actions change the state.

    state: int32 array, any shape. Returns int8 [..., 6].
    """
    row, col, passenger, destination = decode(state)
    stands = jnp.asarray(STANDS)
    at_stand = (row[..., None] == stands[:, 0]) & (col[..., None] == stands[:, 1])
    on_passenger = jnp.take_along_axis(
        at_stand, jnp.minimum(passenger, NUM_STANDS - 1)[..., None], axis=-1
    )[..., 0]
    east_open = jnp.asarray(EAST_OPEN)
    mask = jnp.stack(
        [
            row < NUM_ROWS - 1,
            row > 0,
            east_open[row, col],
            (col > 0) & east_open[row, jnp.maximum(col - 1, 0)],
            (passenger < NUM_STANDS) & on_passenger,
            (passenger == IN_TAXI) & jnp.any(at_stand, axis=-1),
        ],
        axis=-1,
    )
    del destination
    return mask.astype(jnp.int8)


@struct.dataclass
class TaxiState(environment.EnvState):
    state: jax.Array  # int32 [], the encoded Taxi state
    time: jax.Array  # int32 [], steps taken this episode


@struct.dataclass
class TaxiParams(environment.EnvParams):
    max_steps_in_episode: int = 200


class Taxi(environment.Environment[TaxiState, TaxiParams]):
    """Taxi-v3 under the gymnax contract.

    obs_mode "index": obs is the int32 state index, shape []. "one_hot": a
    float32 [500] one-hot of it, for neural learners.
    """

    def __init__(self, obs_mode: str = "index"):
        super().__init__()
        if obs_mode not in OBS_MODES:
            raise ValueError(f"obs_mode must be one of {OBS_MODES}, got {obs_mode!r}")
        self.obs_mode = obs_mode
        self._starts = jnp.asarray(initial_state_support())

    @property
    def default_params(self) -> TaxiParams:
        return TaxiParams()

    def step_env(
        self, key: jax.Array, state: TaxiState, action, params: TaxiParams
    ) -> tuple[jax.Array, TaxiState, jax.Array, jax.Array, dict[Any, Any]]:
        """One deterministic step; ``key`` is unused (Taxi-v3 is deterministic)."""
        del key
        next_state, reward, terminated = transition(
            state.state, jnp.asarray(action, jnp.int32)
        )
        new = TaxiState(state=next_state, time=state.time + 1)
        info = {"action_mask": action_mask(next_state)}
        return self.get_obs(new), new, reward, terminated, info

    def reset_env(self, key: jax.Array, params: TaxiParams):
        """Uniform start over `initial_state_support()`."""
        index = jax.random.randint(key, (), 0, self._starts.shape[0])
        state = TaxiState(state=self._starts[index], time=jnp.int32(0))
        return self.get_obs(state), state

    def get_obs(self, state: TaxiState, params=None, key=None) -> jax.Array:
        """int32 [] index, or float32 [500] one-hot (see `obs_mode`)."""
        if self.obs_mode == "one_hot":
            return jax.nn.one_hot(state.state, NUM_STATES, dtype=jnp.float32)
        return state.state

    def is_terminated(self, state: TaxiState, params: TaxiParams) -> jax.Array:
        """Delivery is only detectable from the transition, so a state alone
        never reports termination."""
        return jnp.array(False)

    @property
    def name(self) -> str:
        return "Taxi-v3"

    @property
    def num_actions(self) -> int:
        return NUM_ACTIONS

    def action_space(self, params: TaxiParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(NUM_ACTIONS)

    def observation_space(self, params: TaxiParams):
        if self.obs_mode == "one_hot":
            return spaces.Box(0.0, 1.0, (NUM_STATES,), jnp.float32)
        return spaces.Discrete(NUM_STATES)

    def state_space(self, params: TaxiParams) -> spaces.Dict:
        return spaces.Dict(
            {
                "state": spaces.Discrete(NUM_STATES),
                "time": spaces.Discrete(params.max_steps_in_episode),
            }
        )


def make_taxi(obs_mode: str = "index", max_steps_in_episode: int = 200):
    """Registry factory for "Taxi-v3": returns ``(Taxi(obs_mode), TaxiParams)``."""
    if not isinstance(max_steps_in_episode, int) or max_steps_in_episode < 1:
        raise ValueError(
            f"max_steps_in_episode must be a positive int, got {max_steps_in_episode!r}"
        )
    return Taxi(obs_mode), TaxiParams(max_steps_in_episode=max_steps_in_episode)

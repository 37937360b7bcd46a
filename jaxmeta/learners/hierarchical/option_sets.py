"""Options as arrays (Sutton, Precup and Singh 1999): an option is an
initiation set I, a deterministic internal policy pi and a termination
probability beta, each given over every state of a tabular env:

    initiation:  bool    [O, S]  s in I(o)
    policy:      int32   [O, S]  pi_o(s), read where the option can run
    termination: float32 [O, S]  beta_o(s) in [0, 1]

An option can run in its *domain*: where it may start, or continue
(beta < 1). A primitive action is the one-step option (I = every state,
beta = 1 everywhere). Built-in sets, by name: "primitive", "hallways" (the
eight hallway options of `envs.four_rooms`) and "hallways+primitive". Every
check (shapes, empty initiation sets, terminations outside [0, 1], actions
out of range, subgoals outside the state space, states where no option can
start) runs in plain Python, before anything compiles.

`option_value_iteration` solves the intra-option Bellman optimality
equation exactly (NumPy, float64) for a known model: the values SMDP and
intra-option Q-learning converge to, and with primitive options those of
ordinary value iteration.
"""

import numpy as np

OPTION_SETS = ("primitive", "hallways", "hallways+primitive")


class OptionSet:
    """Validated, hashable option arrays (shapes in the module docstring).
    Hash and equality are by value, so an OptionSet can sit in a learner's
    static config."""

    def __init__(self, initiation, policy, termination, names=None):
        initiation = np.asarray(initiation)
        if initiation.ndim != 2 or initiation.shape[0] < 1:
            raise ValueError(
                f"initiation must be [num_options >= 1, num_states] booleans, got "
                f"shape {initiation.shape}"
            )
        if initiation.dtype != bool:
            raise ValueError(f"initiation must be booleans, got {initiation.dtype}")
        shape = initiation.shape
        if names is None:
            names = [f"option {k}" for k in range(shape[0])]
        self.names = tuple(str(n) for n in names)
        if len(self.names) != shape[0]:
            raise ValueError(f"{len(self.names)} names for {shape[0]} options")
        for field, value in (("policy", policy), ("termination", termination)):
            if np.shape(value) != shape:
                raise ValueError(
                    f"{field} must have the initiation set's shape {shape}, got "
                    f"{np.shape(value)}"
                )
        policy = np.asarray(policy)
        if not np.issubdtype(policy.dtype, np.integer):
            raise ValueError(f"policy must be integer actions, got {policy.dtype}")
        termination = np.asarray(termination, np.float64)
        empty = np.flatnonzero(~initiation.any(axis=1))
        if empty.size:
            raise ValueError(
                f"{self.names[empty[0]]} has an empty initiation set; every option "
                "must be able to start in at least one state"
            )
        bad = ~(np.isfinite(termination) & (termination >= 0) & (termination <= 1))
        if bad.any():
            k, s = np.argwhere(bad)[0]
            raise ValueError(
                f"{self.names[k]}: termination probability {termination[k, s]!r} "
                f"in state {s} is outside [0, 1]"
            )
        self.initiation = initiation
        self.policy = policy.astype(np.int32)
        self.termination = termination.astype(np.float32)
        for array in (self.initiation, self.policy, self.termination):
            array.setflags(write=False)

    @property
    def num_options(self) -> int:
        return self.initiation.shape[0]

    @property
    def num_states(self) -> int:
        return self.initiation.shape[1]

    @property
    def domain(self) -> np.ndarray:
        """bool [O, S]: where each option can run (start, or continue)."""
        return self.initiation | (self.termination < 1)

    def check_for(self, num_states: int, num_actions: int, where: str) -> None:
        """The options fit an env of `num_states` x `num_actions`, and some
        option can start in every state. ValueError naming `where`."""
        if self.num_states != num_states:
            raise ValueError(
                f"{where}: options are over {self.num_states} states, the env "
                f"has {num_states}"
            )
        acts = self.policy[self.domain]
        if acts.size and (acts.min() < 0 or acts.max() >= num_actions):
            raise ValueError(
                f"{where}: option policies take actions outside 0..{num_actions - 1}"
            )
        idle = np.flatnonzero(~self.initiation.any(axis=0))
        if idle.size:
            raise ValueError(
                f"{where}: no option can start in states {idle[:8].tolist()}"
                f"{' ...' if idle.size > 8 else ''}; add primitive options"
            )

    def __add__(self, other: "OptionSet") -> "OptionSet":
        return OptionSet(
            np.concatenate([self.initiation, other.initiation]),
            np.concatenate([self.policy, other.policy]),
            np.concatenate([self.termination, other.termination]),
            self.names + other.names,
        )

    def _key(self):
        arrays = (self.initiation, self.policy, self.termination)
        return (self.names, *(a.shape for a in arrays), *(a.tobytes() for a in arrays))

    def __hash__(self):
        return hash(self._key())

    def __eq__(self, other):
        return isinstance(other, OptionSet) and self._key() == other._key()

    def __repr__(self):
        return f"OptionSet({self.num_options} options over {self.num_states} states)"


def primitive_options(num_states: int, num_actions: int) -> OptionSet:
    """Action a as the one-step option: I = all states, beta = 1."""
    shape = (num_actions, num_states)
    policy = np.broadcast_to(np.arange(num_actions)[:, None], shape)
    return OptionSet(
        np.ones(shape, bool), policy, np.ones(shape), [f"a{a}" for a in range(shape[0])]
    )


def subgoal_options(next_state, subgoals, initiation, names=None) -> OptionSet:
    """Options that take the shortest path (under `next_state`, a
    deterministic model int [S, A]: the state each action leads to) from
    their initiation set to a subgoal state, and terminate there or on
    leaving the initiation set. subgoals: int [O]; initiation: bool [O, S].
    ValueError for a subgoal outside the state space or out of reach."""
    next_state = np.asarray(next_state)
    initiation = np.asarray(initiation, bool)
    subgoals = np.asarray(subgoals).reshape(-1)
    num_states = next_state.shape[0]
    if initiation.shape != (subgoals.size, num_states):
        raise ValueError(
            f"initiation must be [{subgoals.size}, {num_states}], got "
            f"{initiation.shape}"
        )
    policies, terminations = [], []
    for k, goal in enumerate(subgoals.tolist()):
        if not 0 <= goal < num_states:
            raise ValueError(
                f"subgoal {goal} of option {k} is outside the state space "
                f"0..{num_states - 1}"
            )
        region = initiation[k].copy()
        region[goal] = True
        # Breadth-first, backward from the subgoal, inside the region.
        distance = np.full(num_states, np.inf)
        distance[goal] = 0
        frontier = [goal]
        while frontier:
            leads = region[:, None] & np.isin(next_state, frontier)
            reached = leads.any(axis=1) & np.isinf(distance)
            distance[reached] = distance[frontier[0]] + 1
            frontier = np.flatnonzero(reached).tolist()
        stuck = np.flatnonzero(initiation[k] & np.isinf(distance))
        if stuck.size:
            raise ValueError(
                f"subgoal {goal} of option {k} cannot be reached from its "
                f"initiation states {stuck[:8].tolist()}"
            )
        policies.append(np.argmin(distance[next_state], axis=1))
        beta = np.where(initiation[k], 0.0, 1.0)
        beta[goal] = 1.0
        terminations.append(beta)
    return OptionSet(initiation, np.stack(policies), np.stack(terminations), names)


def hallway_option_set() -> OptionSet:
    """The eight hallway options of Four Rooms (`envs.four_rooms`)."""
    from jaxmeta.envs.four_rooms import hallway_options

    built = hallway_options()
    names = [f"room{r}->cell{t}" for r, t in zip(built.room, built.target, strict=True)]
    return OptionSet(built.initiation, built.policy, built.termination, names)


def option_set(name, num_states: int, num_actions: int) -> OptionSet:
    """An `OptionSet` as is, or a built-in one by name (`OPTION_SETS`)."""
    if isinstance(name, OptionSet):
        return name
    if name == "primitive":
        return primitive_options(num_states, num_actions)
    if name == "hallways":
        return hallway_option_set()
    if name == "hallways+primitive":
        return hallway_option_set() + primitive_options(num_states, num_actions)
    raise ValueError(
        f"options must be an OptionSet or one of {OPTION_SETS}, got {name!r}"
    )


def option_value_iteration(
    transition, reward, terminal, options: OptionSet, gamma, tol=1e-12, max_iter=100_000
):
    """Q*_O [S, O] of a known MDP with options, by value iteration on

        Q(s, o) = sum_s' P(s' | s, pi_o(s)) [r(s, pi_o(s)) + gamma U(s', o)]
        U(s', o) = (1 - beta_o(s')) Q(s', o) + beta_o(s') max_{o' in I(s')} Q(s', o')

    with U = 0 in terminal states. transition: [S, A, S]; reward: [S, A]
    (expected); terminal: bool [S]; gamma in [0, 1] (1 only if every
    option policy reaches a terminal state). Entries outside an option's
    domain are NaN. Iterates until the largest change is below `tol`.
    """
    transition = np.asarray(transition, np.float64)
    reward = np.asarray(reward, np.float64)
    policy = options.policy.T  # [S, O]
    beta = options.termination.T.astype(np.float64)
    available = options.initiation.T
    states = np.arange(transition.shape[0])[:, None]
    p = transition[states, policy]  # [S, O, S']
    r = reward[states, policy]  # [S, O]
    alive = ~np.asarray(terminal, bool)
    q = np.zeros(policy.shape)
    for _ in range(max_iter):
        best = np.max(np.where(available, q, -np.inf), axis=1, keepdims=True)
        best = np.where(np.isfinite(best), best, 0.0)
        u = ((1 - beta) * q + beta * best) * alive[:, None]  # [S', O]
        new = r + gamma * np.einsum("sot,to->so", p, u)
        change = np.max(np.abs(new - q))
        q = new
        if change < tol:
            break
    return np.where(options.domain.T, q, np.nan)

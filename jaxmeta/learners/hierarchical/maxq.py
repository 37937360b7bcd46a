"""MAXQ-Q (Dietterich 2000) over a task graph (`task_graph.py`), as a pure,
jitted, vmappable learner: the active subtasks are a stack in the state,
so a step is straight-line code with no Python recursion at run time.

Values. V(p, s) of a primitive is a table (its expected one-step reward);
for a composite i, V(i, s) = max over its open children a of
Q(i, s, a) = V(a, s) + C(i, s, a), computed bottom-up over the graph
(`node_values`); a child is open in s unless its termination holds there.
C(i, ., .) and V(p, .) are indexed by each node's state abstraction.

Execution and learning, one env step: the stack holds Root .. the running
primitive; the primitive acts (s -> s', reward r) and its value learns,
V(p, s) += alpha (r - V(p, s)); then, from the primitive's parent upwards,
the parent i whose child a (started in s_a, N steps ago) just ended learns
C(i, s_a, a) += alpha (target - C(i, s_a, a)), target = 0 when i itself
terminates in s' (or the episode ends), else gamma^N V(i, s'); i is popped
when it terminated, and the climb goes on to its parent. The subtask left on
top then descends again in s': each composite picks a child epsilon-greedily
among its open children, ties to the first in the child order (the
paper's ordered exploration), until a primitive is on top. A time-limit
truncation updates only the primitive's parent (no subtask ended) and
restarts the stack from the root.

This is the paper's MAXQ-0 update rule (its MAXQ-Q adds pseudo-rewards,
none in Taxi, and optional all-states updating, not done here). One env
per trial (`num_envs = 1`): trials are the vmap. The scaffolding (the step
loop, metrics, epsilon schedule over episodes) is the tabular learners'
(`learners/common/tabular_learner.py`).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.learners.common.tabular import epsilon_at, state_index
from jaxmeta.learners.common.tabular_learner import (
    Step,
    TabularLearner,
    TabularState,
    init_carry,
    tabular_update,
)
from jaxmeta.learners.hierarchical.task_graph import TaskGraph, taxi_task_graph


def _uniforms(words):
    """uint32 [4] -> float32 [8] in [0, 1): two 16-bit numbers a word."""
    halves = jnp.stack([words >> 16, words & 0xFFFF], axis=-1).reshape(-1)
    return halves.astype(jnp.float32) * jnp.float32(2.0**-16)


@dataclasses.dataclass(frozen=True)
class MAXQ(TabularLearner):
    """MAXQ-Q on `env` over `graph` (default: Taxi's). Hparams: the tabular
    learners' (learning rate alpha, gamma, epsilon schedule, `q_init` the
    initial table entries)."""

    graph: TaskGraph | None = None
    all_states_updating: bool = True
    trace_length: int = 16

    def __post_init__(self):
        self._check_tabular()
        if self.graph is None:
            object.__setattr__(self, "graph", taxi_task_graph())
        if not isinstance(self.graph, TaskGraph):
            raise ValueError(f"graph must be a TaskGraph, got {self.graph!r}")
        if self.num_envs != 1:
            raise ValueError(
                f"num_envs must be 1 for MAXQ (one env per trial; vmap trials), "
                f"got {self.num_envs}"
            )
        bad = [a for a in self.graph.action if a >= self.num_actions]
        if bad:
            raise ValueError(
                f"task graph actions must be the env's 0..{self.num_actions - 1}, "
                f"got {bad}"
            )
        if not isinstance(self.all_states_updating, bool):
            raise ValueError(
                f"all_states_updating must be true or false, got "
                f"{self.all_states_updating!r}"
            )
        if not isinstance(self.trace_length, int) or self.trace_length < 1:
            raise ValueError(
                f"trace_length must be a positive integer, got {self.trace_length!r}"
            )
        object.__setattr__(self, "num_choices", self.num_actions)
        object.__setattr__(self, "_children", self.graph.child_table())
        object.__setattr__(self, "_child_mask", self.graph.child_mask())

    def init_tables(self, value: float) -> dict:
        """{"C": {node: [size, children]}, "V": {node: [size]}} of `value`."""
        g = self.graph
        tables = {"C": {}, "V": {}}
        for i in g.composites:
            shape = (g.sizes[i], len(g.children[i]))
            tables["C"][g.names[i]] = jnp.full(shape, value, jnp.float32)
        for i in g.primitives:
            tables["V"][g.names[i]] = jnp.full(g.sizes[i], value, jnp.float32)
        return tables

    def node_values(self, tables: dict, obs):
        """At one state `obs` ([] int): V [n], Q [n, K] (-inf off the
        children), open [n, K] bool, abstract index [n], terminated [n]."""
        g = self.graph
        f = g.features(obs)
        index = [g.abstract[i](f).astype(jnp.int32) for i in range(g.num_nodes)]
        ended = [
            jnp.asarray(False) if g.terminated[i] is None else g.terminated[i](f)
            for i in range(g.num_nodes)
        ]
        values = [None] * g.num_nodes
        q_rows, open_rows = [None] * g.num_nodes, [None] * g.num_nodes
        pad = g.max_children
        for i in g.bottom_up:
            kids = g.children[i]
            if not kids:
                values[i] = tables["V"][g.names[i]][index[i]]
                q_rows[i] = jnp.full(pad, -jnp.inf)
                open_rows[i] = jnp.zeros(pad, bool)
                continue
            q = jnp.stack([values[c] for c in kids]) + tables["C"][g.names[i]][index[i]]
            is_open = ~jnp.stack([ended[c] for c in kids])
            values[i] = jnp.where(
                is_open.any(), jnp.max(jnp.where(is_open, q, -jnp.inf)), 0.0
            )
            q_rows[i] = jnp.pad(q, (0, pad - len(kids)), constant_values=-jnp.inf)
            open_rows[i] = jnp.pad(is_open, (0, pad - len(kids)))
        return (jnp.stack(values), jnp.stack(q_rows), jnp.stack(open_rows),
                jnp.stack(index), jnp.stack(ended))  # fmt: skip

    def _descend(self, agent, values, uniforms, epsilon):
        """Push children from the stack's top until a primitive is on top."""
        _, q_all, open_all, index, _ = values
        children = jnp.asarray(self._children)
        composite = jnp.asarray(self._child_mask.any(axis=1))
        stack, top = agent["stack"], agent["top"]
        start, choice, steps = agent["start"], agent["choice"], agent["steps"]
        for k in range(self.graph.depth):
            node = stack[top]
            push = composite[node]
            q, is_open = q_all[node], open_all[node]
            count = jnp.maximum(jnp.sum(is_open), 1)
            rank = jnp.floor(uniforms[2 * k + 1] * count).astype(jnp.int32)
            randomly = jnp.argmax(is_open & (jnp.cumsum(is_open) > rank))
            greedy = jnp.argmax(jnp.where(is_open, q, -jnp.inf))
            pick = jnp.where(uniforms[2 * k] < epsilon, randomly, greedy)
            below = jnp.minimum(top + 1, stack.shape[0] - 1)
            start = start.at[top].set(jnp.where(push, index[node], start[top]))
            choice = choice.at[top].set(jnp.where(push, pick, choice[top]))
            steps = steps.at[top].set(jnp.where(push, 0, steps[top]))
            stack = stack.at[below].set(
                jnp.where(push, children[node, pick], stack[below])
            )
            top = jnp.where(push, below, top)
        return {**agent, "stack": stack, "top": top, "start": start,
                "choice": choice, "steps": steps}  # fmt: skip

    def _root_agent(self) -> dict:
        """Only Root on the stack (`depth + 1` levels)."""
        levels = self.graph.depth + 1
        zeros = jnp.zeros(levels, jnp.int32)
        return {"stack": zeros, "top": jnp.int32(0), "start": zeros,
                "choice": zeros, "steps": zeros,
                "trace": jnp.zeros((levels, self.trace_length), jnp.int32)}  # fmt: skip

    def _fresh_agent(self, tables, obs, uniforms, epsilon):
        values = self.node_values(tables, obs)
        return self._descend(self._root_agent(), values, uniforms, epsilon)

    def _visited(self, trace, n, agent, level):
        """The states the child at `level` ran through, as update rows: a
        function node -> rows [T + 1], valid [T + 1] and the steps from each
        to the child's end [T + 1]. Slot t of the ring `trace: [T]` holds
        the latest visit j < n with j = t mod T; the last entry is the
        child's start state, used when the ring no longer holds it (n > T).
        Without all-states updating only the start state is valid."""
        g, length = self.graph, self.trace_length
        slots = jnp.arange(length)
        visit = slots + length * jnp.maximum((n - 1 - slots) // length, 0)
        in_ring = (slots < n) & self.all_states_updating
        start_valid = (n > length) | ~self.all_states_updating
        valid = jnp.concatenate([in_ring, start_valid[None]])
        remaining = jnp.concatenate([n - visit, n[None]])
        features = g.features(trace)

        def rows_of(i):
            return jnp.concatenate(
                [g.abstract[i](features).astype(jnp.int32), agent["start"][level][None]]
            )

        return rows_of, valid & (n >= 1), remaining

    def _learn_one(self, tables, agent, step, uniforms, hparams, epsilon, learn=True):
        """One env's step (unbatched `step` fields): (tables, agent, td,
        count); with `learn` False (static) the stack moves, the tables stay."""
        g, alpha = self.graph, hparams.learning_rate
        tables = {"C": dict(tables["C"]), "V": dict(tables["V"])}  # not in place
        stack, top = agent["stack"], agent["top"]
        primitive = stack[top]
        f = g.features(step.obs)
        for i in g.primitives if learn else ():
            row = g.abstract[i](f).astype(jnp.int32)
            table = tables["V"][g.names[i]]
            delta = jnp.where(primitive == i, alpha * (step.reward - table[row]), 0.0)
            tables["V"][g.names[i]] = table.at[row].add(delta)
        levels = jnp.arange(stack.shape[0])
        length = self.trace_length
        slot = agent["steps"] % length
        below_top = levels < top
        trace = (
            agent["trace"]
            .at[levels, slot]
            .set(jnp.where(below_top, step.obs, agent["trace"][levels, slot]))
        )
        steps = agent["steps"] + below_top
        after = self.node_values(tables, step.final_obs)
        climbing, root_ended = jnp.asarray(True), jnp.asarray(False)
        td, count = 0.0, 0
        for _ in range(g.depth):
            level = jnp.maximum(top - 1, 0)
            parent = stack[level]
            active = climbing & (top >= 1)
            ends = after[4][parent] | step.terminated
            n = steps[level]
            rows_of, valid, remaining = self._visited(trace[level], n, agent, level)
            target = jnp.where(
                ends, 0.0, hparams.gamma ** remaining.astype(jnp.float32)
                * after[0][parent],
            )  # fmt: skip
            col = agent["choice"][level]
            for i in g.composites if learn else ():
                table = tables["C"][g.names[i]]
                rows = jnp.clip(rows_of(i), 0, table.shape[0] - 1)
                c = jnp.clip(col, 0, table.shape[1] - 1)
                hit = valid & active & (parent == i)
                error = jnp.where(hit, target - table[rows, c], 0.0)
                # A state seen twice in the run moves once, by the mean step.
                same = (rows[:, None] == rows[None, :]) & hit[None, :]
                share = jnp.maximum(same.sum(axis=1), 1)
                tables["C"][g.names[i]] = table.at[rows, c].add(alpha * error / share)
                td = td + jnp.sum(jnp.abs(error) / share)
                count = count + jnp.sum(hit / share).astype(jnp.int32)
            top = jnp.where(active, level, top)
            root_ended = root_ended | (active & ends & (level == 0))
            climbing = active & ends & (level > 0)
        agent = {**agent, "steps": steps, "top": top, "trace": trace}
        restart = step.done | root_ended
        values = self.node_values(tables, step.next_obs)
        fresh = self._descend(self._root_agent(), values, uniforms, epsilon)
        going = self._descend(agent, values, uniforms, epsilon)
        agent = jax.tree_util.tree_map(
            lambda a, b: jnp.where(restart, a, b), fresh, going
        )
        return tables, agent, td, count

    def _fns(self, hparams):
        actions = jnp.asarray(np.maximum(self.graph.action, 0), jnp.int32)

        def choose(words, tables, carry, epsilon):
            top = carry.agent["top"]
            node = jnp.take_along_axis(carry.agent["stack"], top[:, None], 1)[:, 0]
            return actions[node]

        def learn(words, tables, carry, step, epsilon):
            one = lambda tree: jax.tree_util.tree_map(lambda x: x[0], tree)  # noqa: E731
            agent = one(carry.agent)
            tables, agent, td, count = self._learn_one(
                tables, agent, one(step), _uniforms(words[0]), hparams, epsilon
            )
            batch = lambda tree: jax.tree_util.tree_map(lambda x: x[None], tree)  # noqa: E731
            return tables, batch(agent), td[None], count[None]

        return choose, learn

    def init(self, key, hparams, env_params) -> TabularState:
        """Tables of `q_init`, a reset env, the stack descended from Root."""
        key_env, key_agent = jax.random.split(key)
        tables = self.init_tables(hparams.q_init)
        carry = init_carry(key_env, self.env, env_params, 1, {})
        epsilon = epsilon_at(hparams, jnp.int32(0), 1)
        words = jax.random.bits(key_agent, (4,), jnp.uint32)
        agent = self._fresh_agent(tables, carry.obs[0], _uniforms(words), epsilon)
        agent = jax.tree_util.tree_map(lambda x: x[None], agent)
        return TabularState(
            {"q": tables}, carry.replace(agent=agent), jnp.int32(0),
            jnp.asarray(epsilon, jnp.float32), jnp.int32(0), jnp.asarray(False),
        )  # fmt: skip

    def update(self, key, state: TabularState, hparams, env_params):
        """`num_steps` env steps, learning online (`tabular_update`'s metrics)."""
        return tabular_update(self, key, state, hparams, env_params, self._fns(hparams))

    def act(self, key, state: TabularState, obs, deterministic: bool = False):
        """Actions [N] for state indices `obs: [N]` by hierarchical greedy
        execution: descend from Root in every state (the paper's polled
        execution), epsilon-greedily with the state's epsilon unless
        `deterministic`."""
        s = state_index(obs)
        words = jax.random.bits(key, (s.shape[0], 4), jnp.uint32)
        epsilon = jnp.where(deterministic, 0.0, state.epsilon)
        actions = jnp.asarray(np.maximum(self.graph.action, 0), jnp.int32)

        def one(obs_i, words_i):
            agent = self._fresh_agent(
                state.params["q"], obs_i, _uniforms(words_i), epsilon
            )
            return actions[agent["stack"][agent["top"]]]

        return jax.vmap(one)(s, words)

    def greedy_return(self, state: TabularState, env_state, env_params, steps: int):
        """[] return of one greedy episode from `env_state` (an unbatched
        env state) within `steps` steps, executing the stack of subtasks as
        in training (hierarchical execution), epsilon 0, no learning."""
        tables = state.params["q"]
        frozen = self.default_hparams().replace(learning_rate=jnp.float32(0.0))
        actions = jnp.asarray(np.maximum(self.graph.action, 0), jnp.int32)
        zeros = jnp.zeros(8)

        def body(carry, _):
            env_state, agent, done, ret = carry
            obs = state_index(self.env.get_obs(env_state)[None])[0]
            action = actions[agent["stack"][agent["top"]]]
            nxt_obs, nxt, reward, ends, _ = self.env.step_env(
                jax.random.key(0), env_state, action, env_params
            )
            nxt_obs = state_index(jnp.asarray(nxt_obs)[None])[0]
            step = Step(obs, action, reward, nxt_obs, nxt_obs, ends,
                        jnp.asarray(False), ends)  # fmt: skip
            _, moved, _, _ = self._learn_one(
                tables, agent, step, zeros, frozen, 0.0, learn=False
            )
            agent = jax.tree_util.tree_map(
                lambda old, new: jnp.where(done, old, new), agent, moved
            )
            ret = ret + jnp.where(done, 0.0, reward)
            return (nxt, agent, done | ends, ret), None

        obs = state_index(self.env.get_obs(env_state)[None])[0]
        agent = self._fresh_agent(tables, obs, zeros, 0.0)
        init = (env_state, agent, jnp.asarray(False), jnp.float32(0.0))
        (_, _, _, ret), _ = jax.lax.scan(body, init, None, steps)
        return ret

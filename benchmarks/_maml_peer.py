"""PyTorch side of benchmarks/maml_cost.py, run in its own venv (torch is not
a jaxmeta dependency). The same meta-iteration as jaxmeta's MAML, FOMAML and
Directed-MAML on Navigation2D, written the way PyTorch users write MAML-RL:
a Python loop over the meta-batch, the env as batched tensors (one row per
trajectory), a functional MLP over a list of weights, the inner step with
`torch.autograd.grad(..., create_graph=True)`, one `backward()` through
everything, `torch.optim.Adam`.

Same math as jaxmeta: N episodes of at most T steps per task (an episode
ends within 0.01 of the goal), rllab's linear feature baseline fitted per
batch, the DiCE inner objective with Mao et al.'s baseline term, the
importance-sampled outer surrogate, the mean over tasks.

    python _maml_peer.py CONFIG_JSON      # one run: seconds and peak memory
    python _maml_peer.py --serve          # JSON config per stdin line
"""

import ctypes
import json
import sys
import time


def peak_rss_reset() -> int:
    """Return freed memory to the OS, reset the peak RSS; current RSS bytes."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status("VmRSS")


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


class MetaLearner:
    def __init__(self, config):
        import torch

        self.torch = torch
        self.cfg = config
        gen = torch.Generator().manual_seed(config.get("seed", 0))
        sizes = [2, *config["hidden"], 2]
        self.params = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            weight = torch.randn(fan_in, fan_out, generator=gen) / fan_in**0.5
            self.params += [
                weight.requires_grad_(),
                torch.zeros(fan_out).requires_grad_(),
            ]
        self.params.append(torch.zeros(2).requires_grad_())  # log std
        self.opt = torch.optim.Adam(self.params, lr=config["outer_lr"])
        self.gen = gen
        steps = torch.arange(config["horizon"], dtype=torch.float32)
        self.discount = (config["gamma"] ** steps)[:, None]

    def policy(self, params, obs):
        h = obs
        for i in range(0, len(params) - 3, 2):
            h = self.torch.relu(h @ params[i] + params[i + 1])
        return h @ params[-3] + params[-2], params[-1]

    def log_prob(self, params, obs, action):
        mean, log_std = self.policy(params, obs)
        z = (action - mean) * self.torch.exp(-log_std)
        return (-0.5 * z**2 - log_std - 0.9189385332046727).sum(-1)

    def rollout(self, params, goal):
        torch, cfg = self.torch, self.cfg
        n = cfg["num_episodes"]
        pos = torch.zeros(n, 2)
        alive = torch.ones(n)
        obs, actions, rewards, valid, logps = [], [], [], [], []
        with torch.no_grad():
            for _ in range(cfg["horizon"]):
                mean, log_std = self.policy(params, pos)
                action = mean + torch.exp(log_std) * torch.randn(
                    n, 2, generator=self.gen
                )
                z = (action - mean) * torch.exp(-log_std)
                logps.append((-0.5 * z**2 - log_std - 0.9189385332046727).sum(-1))
                obs.append(pos)
                pos = pos + action.clamp(-0.1, 0.1)
                distance = (pos - goal).norm(dim=-1)
                actions.append(action)
                rewards.append(-distance)
                valid.append(alive)
                alive = alive * (distance >= 0.01).float()
        stack = torch.stack
        return stack(obs), stack(actions), stack(rewards), stack(valid), stack(logps)

    def returns_to_go(self, rewards, valid):
        out, running = [], self.torch.zeros(rewards.shape[1])
        for t in reversed(range(rewards.shape[0])):
            running = rewards[t] * valid[t] + self.cfg["gamma"] * running
            out.append(running)
        return self.torch.stack(out[::-1])

    def baseline(self, obs, returns, valid):
        torch = self.torch
        steps, n = returns.shape
        o = obs.clamp(-10, 10)
        t = (torch.arange(steps, dtype=torch.float32) / 100)[:, None, None].expand(
            steps, n, 1
        )
        x = torch.cat([o, o**2, t, t**2, t**3, torch.ones_like(t)], -1).reshape(-1, 8)
        w = valid.reshape(-1, 1)
        gram = (x * w).T @ x + self.cfg["baseline_reg"] * torch.eye(8)
        coeffs = torch.linalg.solve(gram, (x * w).T @ returns.reshape(-1))
        return (x @ coeffs).reshape(steps, n)

    def inner_objective(self, params, batch):
        obs, action, reward, valid, _ = batch
        returns = self.returns_to_go(reward, valid)
        base = self.baseline(obs, returns, valid)
        logp = self.log_prob(params, obs, action) * valid
        cumulative = logp.cumsum(0)
        magic = lambda x: self.torch.exp(x - x.detach())  # noqa: E731
        term = magic(cumulative) * reward
        term = term + (1 - magic(logp)) * magic(cumulative - logp) * base
        return (valid * self.discount * term).sum() / valid.numel()

    def outer_objective(self, params, batch):
        obs, action, reward, valid, sample_logp = batch
        returns = self.returns_to_go(reward, valid)
        advantage = returns - self.baseline(obs, returns, valid)
        ratio = self.torch.exp(
            valid * (self.log_prob(params, obs, action) - sample_logp)
        )
        return (valid * self.discount * ratio * advantage).sum() / valid.numel()

    def adapt(self, params, goal, second_order):
        objective = self.inner_objective(params, self.rollout(params, goal))
        grads = self.torch.autograd.grad(objective, params, create_graph=second_order)
        return [
            p + self.cfg["inner_lr"] * g for p, g in zip(params, grads, strict=True)
        ]

    def meta_iteration(self, variant: str):
        torch = self.torch
        if variant.startswith("directed"):
            adapted = self.adapt(self.params, torch.zeros(2), False)
            with torch.no_grad():
                for p, a in zip(self.params, adapted, strict=True):
                    p.copy_(a)
        second_order = variant in ("maml", "directed-maml")
        self.opt.zero_grad()
        total = 0.0
        for _ in range(self.cfg["meta_batch_size"]):
            goal = torch.rand(2, generator=self.gen) - 0.5
            adapted = self.adapt(self.params, goal, second_order)
            detached = [a.detach() for a in adapted]
            total = total + self.outer_objective(adapted, self.rollout(detached, goal))
        (-total / self.cfg["meta_batch_size"]).backward()
        self.opt.step()


def run(config: dict) -> dict:
    """`warmup` untimed then `iterations` timed meta-iterations: their
    seconds, and the peak RSS growth over all of them."""
    import torch

    torch.set_num_threads(config["threads"])
    learner = MetaLearner(config)
    before = peak_rss_reset()
    seconds = []
    for i in range(config.get("warmup", 0) + config["iterations"]):
        began = time.perf_counter()
        learner.meta_iteration(config["variant"])
        if i >= config.get("warmup", 0):
            seconds.append(time.perf_counter() - began)
    peak = _status("VmHWM") - before
    return {"seconds": seconds, "peak_bytes": peak, "torch": torch.__version__}


if __name__ == "__main__":
    if sys.argv[1] == "--serve":
        for line in sys.stdin:
            print(json.dumps(run(json.loads(line))), flush=True)
    else:
        print(json.dumps(run(json.loads(sys.argv[1]))), flush=True)

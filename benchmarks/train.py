"""Training throughput: env steps per second, sampled AND learned, RLlib PPO vs a compact PPO.

What is timed, for each implementation: a whole training run of ``--timesteps`` env steps on
the same environment (the default DOW30 agent ``rl/agents/dow30_ppo.yaml``: 30 assets, window
32, five features, 10 bp, 32 vectorised envs, episodes of 252 sessions, the same EIIE network
sizes, train batch, minibatch and epochs), from the first ``train()`` call to the last. Building
the algorithm (Ray start, actors) is timed separately and reported, not included. One untimed
train batch of each implementation runs first (warm-up: the process's one-off first-call costs
would otherwise land on whichever runs first). Throughput =
env steps sampled / wall time of the loop, so it includes the learning. Because the machine is
shared, the CPU time of this process over the same loop is reported too (``cpu_steps_per_s`` =
env steps / process CPU seconds): with a local env runner and a local learner RLlib does all its
work in this process, so CPU time compares the two implementations without the other tenants'
load; the ratio of the two is the headline figure.

- **RLlib**: :func:`tradewind.rl.train.algorithm_config` of the agent (new API stack, local env
  runner, local learner), ``algo.train()`` until the budget.
- **compact PPO** (the reference, in this file, ~80 lines): plain torch, the same
  ``EIIEModule`` network and the same ``PortfolioVectorEnv``; rollout of ``train_batch_size``
  steps, GAE, ``num_epochs`` of clipped-surrogate minibatch updates with Adam.

Variants (``--variants``, see ``VARIANTS``) are RLlib configurations tried to close the gap,
some with two torch threads in the driver (the learner); each line of the results is one of
them. With a remote env runner (``runner1_t2``) its CPU time is not in the process figure: read
the wall figure there. Market: the synthetic DOW30-like market 2008-2018 (no shared data
needed).

    .venv/bin/python benchmarks/train.py [--timesteps 32768] [--variants base,...]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from tradewind.markets.synthetic import dow30_like_config, generate_bars
from tradewind.rl.agents import load_agent
from tradewind.rl.data import MarketData

VARIANTS: dict[str, tuple[dict[str, object], int | None]] = {
    # name: (dotted overrides of the agent, torch intra-op threads of the driver; None: the
    # --torch-threads value). The driver holds the local learner (and the local env runner).
    "base": ({}, None),
    "t2": ({}, 2),
    # The agent shipped 16 envs per runner until the measurements of envs32 (now shipped).
    "envs16": ({"runners.num_envs_per_env_runner": 16}, None),
    "envs32": ({"runners.num_envs_per_env_runner": 32}, None),
    "envs32_t2": ({"runners.num_envs_per_env_runner": 32}, 2),
    # 64 envs: half RLlib's per-step overhead again, but 64-step fragments per env per batch.
    "envs64": ({"runners.num_envs_per_env_runner": 64}, None),
    # One remote env runner (its own process, one thread as Ray sets it), learner with 2 threads.
    "runner1_t2": ({"runners.num_env_runners": 1}, 2),
    "epochs3": ({"algorithm.num_epochs": 3}, None),  # shipped since round 3: = base
    "epochs6": ({"algorithm.num_epochs": 6}, None),  # the setting shipped before
    "mb1024": ({"algorithm.minibatch_size": 1024}, None),
}


def market() -> MarketData:
    return MarketData.from_bars(generate_bars(dow30_like_config(), "2008-01-01", "2018-12-31"))


# ------------------------------------------------------------------------- compact PPO
def compact_ppo(agent, data: MarketData, timesteps: int, seed: int = 0) -> dict[str, float]:
    """A single-file PPO on the same env and network; returns timing figures."""
    from tradewind.rl.env import EnvConfig
    from tradewind.rl.model import DEFAULT_MODEL_CONFIG, EIIEModule
    from tradewind.rl.vector_env import PortfolioVectorEnv

    torch.manual_seed(seed)
    a = agent.algorithm
    n_envs = agent.runners.num_envs_per_env_runner
    envs = PortfolioVectorEnv(n_envs, data, EnvConfig.build(agent.env_config("train")))
    net = EIIEModule(
        observation_space=envs.single_observation_space,
        action_space=envs.single_action_space,
        model_config={**DEFAULT_MODEL_CONFIG, **agent.model.model_dump()},
    )
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    steps_per_env = a.train_batch_size // n_envs
    obs, _ = envs.reset(seed=seed)
    n_act = envs.single_action_space.shape[0]

    def dist_and_value(o):
        per_asset = net._per_asset(o)
        inputs = net._dist_inputs(per_asset)
        mean, log_std = inputs[:, :n_act], inputs[:, n_act:]
        return torch.distributions.Normal(mean, log_std.exp()), net.value_head(
            net._pooled(per_asset, o)
        ).squeeze(-1)

    def tensor(o):
        return {k: torch.as_tensor(np.array(v, dtype=np.float32)) for k, v in o.items()}

    done_steps, t0, c0 = 0, time.perf_counter(), time.process_time()
    sample_s = learn_s = 0.0
    while done_steps < timesteps:
        ts = time.perf_counter()
        buf_obs, buf_act, buf_logp, buf_rew, buf_done, buf_val = [], [], [], [], [], []
        with torch.no_grad():
            for _ in range(steps_per_env):
                o = tensor(obs)
                dist, value = dist_and_value(o)
                act = dist.sample()
                obs, rew, term, trunc, _ = envs.step(act.clamp(-1, 1).numpy())
                buf_obs.append(o)
                buf_act.append(act)
                buf_logp.append(dist.log_prob(act).sum(-1))
                buf_rew.append(torch.as_tensor(rew, dtype=torch.float32))
                buf_done.append(torch.as_tensor(term | trunc, dtype=torch.float32))
                buf_val.append(value)
            _, last_val = dist_and_value(tensor(obs))
        # GAE over the rollout (episode ends cut the recursion; truncation treated as an end).
        adv = torch.zeros(steps_per_env, n_envs)
        gae = torch.zeros(n_envs)
        for t in reversed(range(steps_per_env)):
            nxt = last_val if t == steps_per_env - 1 else buf_val[t + 1]
            nonterm = 1.0 - buf_done[t]
            delta = buf_rew[t] + a.gamma * nxt * nonterm - buf_val[t]
            gae = delta + a.gamma * a.lambda_ * nonterm * gae
            adv[t] = gae
        ret = adv + torch.stack(buf_val)
        flat = {k: torch.cat([o[k] for o in buf_obs]) for k in buf_obs[0]}
        act, logp = torch.cat(buf_act), torch.cat(buf_logp)
        adv, ret = adv.reshape(-1), ret.reshape(-1)
        sample_s += time.perf_counter() - ts
        tl = time.perf_counter()
        n = len(act)
        for _ in range(a.num_epochs):
            perm = torch.randperm(n)
            for i in range(0, n, a.minibatch_size):
                idx = perm[i : i + a.minibatch_size]
                dist, value = dist_and_value({k: v[idx] for k, v in flat.items()})
                ratio = (dist.log_prob(act[idx]).sum(-1) - logp[idx]).exp()
                a_mb = adv[idx]
                a_mb = (a_mb - a_mb.mean()) / (a_mb.std() + 1e-8)
                pg = -torch.min(
                    ratio * a_mb, ratio.clamp(1 - a.clip_param, 1 + a.clip_param) * a_mb
                )
                loss = pg.mean() + a.vf_loss_coeff * ((value - ret[idx]) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        learn_s += time.perf_counter() - tl
        done_steps += n
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"steps": done_steps, "wall_s": wall, "sample_s": sample_s, "learn_s": learn_s,
            "steps_per_s": done_steps / wall, "cpu_s": cpu,
            "cpu_steps_per_s": done_steps / cpu}  # fmt: skip


# ------------------------------------------------------------------------------- RLlib
def rllib_ppo(agent, data_path: str, timesteps: int) -> dict[str, float]:
    from tradewind.rl.train import algorithm_config

    t_build = time.perf_counter()
    algo = algorithm_config(agent, {**agent.env_config("train"), "data": data_path}).build_algo()
    build_s = time.perf_counter() - t_build
    # The learner phase timed exactly: RLlib's own ``timers`` are smoothed over iterations
    # (their sum over a run is not the run's learning time). A timing wrapper on this
    # instance's ``learner_group.update``; sampling = the rest of each iteration.
    learn = {"s": 0.0}
    update = algo.learner_group.update

    def timed_update(*args, **kwargs):
        t = time.perf_counter()
        try:
            return update(*args, **kwargs)
        finally:
            learn["s"] += time.perf_counter() - t

    algo.learner_group.update = timed_update
    done = 0
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        while done < timesteps:
            result = algo.train()
            done += int(result["env_runners"]["num_env_steps_sampled"])
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        algo.stop()
    return {"steps": done, "wall_s": wall, "sample_s": wall - learn["s"], "learn_s": learn["s"],
            "steps_per_s": done / wall, "cpu_s": cpu, "cpu_steps_per_s": done / cpu,
            "build_s": build_s}  # fmt: skip


# --------------------------------------------------------------------------- quality
def quality(base, data: MarketData, names: list[str], seeds: list[int], timesteps: int,
            eval_every: int) -> dict[str, object]:  # fmt: skip
    """Validation quality of each variant at an equal env-step budget, several seeds.

    Each (variant, seed) is a whole :func:`tradewind.rl.train.train` run on the synthetic
    market (train 2008-2016; checks every ``eval_every`` iterations on validation 2017-2018,
    the best check kept, no early stop), as ``tradewind train`` runs it. Reported per run: the
    validation metrics of the chosen module and of the last one, next to 1/N on the same
    window with the same costs.
    """
    import tempfile

    from tradewind.rl.baselines import EqualWeight, run_policy
    from tradewind.rl.env import PortfolioEnv
    from tradewind.rl.evaluate import performance
    from tradewind.rl.train import train

    env = PortfolioEnv(data, base.env_config("validation"))
    rec = run_policy(env, EqualWeight())
    equal = performance(rec["log_return"].to_numpy(), rec["turnover"].to_numpy())
    print(f"1/N on validation: sharpe {equal['sharpe']:+.3f}, total return "
          f"{equal['total_return']:+.2%}", flush=True)  # fmt: skip
    runs: dict[str, list[dict[str, float]]] = {}
    for name in names:
        overrides, _ = VARIANTS[name]
        for seed in seeds:
            agent = base.with_overrides(**overrides, **{
                "seed": seed, "early_stopping.eval_every": eval_every,
                "early_stopping.patience": 0, "checkpoint.every_iterations": 10_000})  # fmt: skip
            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory(prefix="tw_quality_") as out:
                res = train(agent, data, out, run_id=f"quality-{name}-{seed}",
                            timesteps=timesteps)  # fmt: skip
            last = res.history[-1]["metrics"] if res.history else res.validation
            row = {"seed": seed, "timesteps": res.timesteps, "wall_s": time.perf_counter() - t0,
                   "best_sharpe": res.validation["sharpe"],
                   "best_total_return": res.validation["total_return"],
                   "best_turnover": res.validation.get("mean_turnover", float("nan")),
                   "last_sharpe": last["sharpe"], "last_total_return": last["total_return"],
                   "checks": len(res.history)}  # fmt: skip
            runs.setdefault(name, []).append(row)
            print(f"[{name} seed {seed}] {res.timesteps:,} steps in {row['wall_s']:.0f}s: "
                  f"validation sharpe best {row['best_sharpe']:+.3f} (return "
                  f"{row['best_total_return']:+.2%}), last {row['last_sharpe']:+.3f}",
                  flush=True)  # fmt: skip
    summary = {}
    for name, rows in runs.items():
        best = np.array([r["best_sharpe"] for r in rows])
        last = np.array([r["last_sharpe"] for r in rows])
        summary[name] = {"best_sharpe_mean": float(best.mean()),
                         "best_sharpe_sd": float(best.std(ddof=1)) if len(best) > 1 else 0.0,
                         "last_sharpe_mean": float(last.mean()),
                         "last_sharpe_sd": float(last.std(ddof=1)) if len(last) > 1 else 0.0}  # fmt: skip
        print(f"{name}: validation sharpe of the chosen module {best.mean():+.3f} +- "
              f"{summary[name]['best_sharpe_sd']:.3f} (sd over {len(rows)} seeds), last "
              f"{last.mean():+.3f} +- {summary[name]['last_sharpe_sd']:.3f}", flush=True)  # fmt: skip
    return {"equal_weight_validation": {k: round(v, 4) for k, v in equal.items()},
            "runs": {n: [{k: round(float(v), 4) for k, v in r.items()} for r in rows]
                     for n, rows in runs.items()},
            "summary": {n: {k: round(v, 4) for k, v in d.items()} for n, d in summary.items()}}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=32768)
    parser.add_argument("--variants", default="base")
    parser.add_argument("--agent", default="dow30_ppo")
    # One intra-op thread: on a shared 2-core machine a second torch thread mostly waits to be
    # scheduled inside every small op (see benchmarks/RESULTS.md, training: both settings).
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--quality", action="store_true",
                        help="train each variant with every seed and compare validation metrics")  # fmt: skip
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--eval-every", type=int, default=4)
    args = parser.parse_args()

    import ray

    torch.set_num_threads(args.torch_threads)
    data = market()
    if args.quality:
        out_q = {"benchmark": "train_quality", "agent": args.agent, "timesteps": args.timesteps,
                 "eval_every": args.eval_every}  # fmt: skip
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        try:
            out_q.update(quality(load_agent(args.agent), data, args.variants.split(","),
                                 [int(x) for x in args.seeds.split(",")], args.timesteps,
                                 args.eval_every))  # fmt: skip
        finally:
            ray.shutdown()
        print(json.dumps(out_q))
        return
    path = data.save(f"/tmp/tw_bench_train_{os.getpid()}.npz")
    base = load_agent(args.agent)
    out: dict[str, object] = {
        "benchmark": "train", "agent": args.agent, "assets": data.n_assets,
        "window": base.window, "envs": base.runners.num_envs_per_env_runner,
        "timesteps": args.timesteps, "train_batch_size": base.algorithm.train_batch_size,
        "minibatch_size": base.algorithm.minibatch_size, "num_epochs": base.algorithm.num_epochs,
        "torch_threads": args.torch_threads,
    }  # fmt: skip
    print(f"market: {data.n_assets} assets x {data.n_sessions} sessions; budget {args.timesteps:,} "
          f"env steps per implementation", flush=True)  # fmt: skip
    # Warm-up, untimed: one train batch of each implementation first, so neither the first
    # variant nor the reference pays the process's one-off costs (torch kernels' first calls,
    # RLlib's first iteration: connector and object-store set-up) inside its timing.
    warm = base.algorithm.train_batch_size
    compact_ppo(base, data, warm)
    ref = compact_ppo(base, data, args.timesteps)
    print(f"compact PPO: {ref['steps_per_s']:,.0f} env-steps/s wall, {ref['cpu_steps_per_s']:,.0f} "
          f"per CPU-second (sample {ref['sample_s']:.1f}s, learn {ref['learn_s']:.1f}s, wall "
          f"{ref['wall_s']:.1f}s)", flush=True)  # fmt: skip
    out["compact_ppo_cpu_steps_per_s"] = round(ref["cpu_steps_per_s"], 1)
    out["compact_ppo_steps_per_s"] = round(ref["steps_per_s"], 1)
    out["compact_ppo"] = {k: round(v, 2) for k, v in ref.items()}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        rllib_ppo(base, str(path), warm)
        for name in args.variants.split(","):
            overrides, threads = VARIANTS[name]
            torch.set_num_threads(threads or args.torch_threads)
            agent = base.with_overrides(**overrides)
            res = rllib_ppo(agent, str(path), args.timesteps)
            res["torch_threads"] = torch.get_num_threads()
            ratio = ref["steps_per_s"] / res["steps_per_s"]
            cpu_ratio = ref["cpu_steps_per_s"] / res["cpu_steps_per_s"]
            print(f"RLlib PPO [{name}]: {res['steps_per_s']:,.0f} env-steps/s wall, "
                  f"{res['cpu_steps_per_s']:,.0f} per CPU-second (sample {res['sample_s']:.1f}s, "
                  f"learn {res['learn_s']:.1f}s, wall {res['wall_s']:.1f}s, build "
                  f"{res['build_s']:.1f}s); compact PPO/RLlib: {ratio:.2f}x wall, "
                  f"{cpu_ratio:.2f}x CPU", flush=True)  # fmt: skip
            out[f"rllib_{name}_steps_per_s"] = round(res["steps_per_s"], 1)
            out[f"rllib_{name}_cpu_steps_per_s"] = round(res["cpu_steps_per_s"], 1)
            out[f"compact_over_rllib_{name}_cpu"] = round(cpu_ratio, 3)
            out[f"rllib_{name}"] = {k: round(v, 2) for k, v in res.items()}
            out[f"compact_over_rllib_{name}"] = round(ratio, 3)
    finally:
        ray.shutdown()
        os.unlink(path)
    out.update(python=platform.python_version(), torch=torch.__version__, ray=ray.__version__)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""Extra-trees fit/predict time: jaxmeta (jit, vmapped over datasets) vs scikit-learn.

A 15k x 20 regression dataset (a smooth function plus noise), fitted once and as a
batch of 32 datasets (one vmapped program for jaxmeta, a Python loop for sklearn
with n_jobs=1 and n_jobs=-1). Compilation is excluded (compiled ahead of time) and
every jax result is blocked on. Also prints held-out R^2 of both.

    python benchmarks/extra_trees.py [--num-trees 10] [--max-features 20]
        [--batch 32] [--trees-per-batch N] [--repeats 1]
    python benchmarks/extra_trees.py --fqi [--psi 0.001] [--meta-dataset F.npz]

--fqi is the case FQI refits H times per model (control/fqi.py): a
meta-dataset of 7,000 tuples x 23 inputs (22 metafeatures and lambda), M = 50,
K = all, a minimum split psi (a fraction of the samples, 1e-3 to 1e-2).
With --meta-dataset (a run's dataset_<env>.npz, see control/meta_dataset.py)
the inputs are its (phi_t, lambda_t) and the targets its meta-rewards (FQI's
first regression): train on the first 70 % of tuples, test on the rest.
"""

import argparse
import dataclasses
import time

import jax
import numpy as np
from sklearn.ensemble import ExtraTreesRegressor

from jaxmeta.models.extra_trees import ExtraTrees

NUM_SAMPLES, NUM_FEATURES, NUM_TEST = 15_000, 20, 5_000


def smooth_dataset(seed, num_samples, num_features=NUM_FEATURES):
    """x: [num_samples, d] uniform on [-1, 1]; y: smooth function + noise 0.1."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (num_samples, num_features)).astype(np.float32)
    y = np.sin(2 * x) @ (1.0 / np.arange(1, num_features + 1)) + x[:, 0] * x[:, 1]
    return x, (y + 0.1 * rng.standard_normal(num_samples)).astype(np.float32)


def best_time(run, repeats):
    """Best wall time of `repeats` calls; run() must block until done."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def r2(y, prediction):
    return 1.0 - np.mean((y - prediction) ** 2) / np.var(y)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--num-trees", type=int, default=10)
    parser.add_argument("--max-features", type=int, default=NUM_FEATURES)
    parser.add_argument("--min-samples-split", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--trees-per-batch", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--fqi", action="store_true")
    parser.add_argument("--psi", type=float, default=1e-3)
    parser.add_argument("--meta-dataset", default=None)
    args = parser.parse_args()
    num_samples, num_features = NUM_SAMPLES, NUM_FEATURES
    min_split = args.min_samples_split
    if args.fqi:
        num_samples, num_features, min_split = 7_000, 23, args.psi
        args.num_trees, args.max_features = 50, num_features
        args.batch, args.repeats = min(args.batch, 4), max(args.repeats, 3)

    forest = ExtraTrees(
        num_trees=args.num_trees,
        max_features=args.max_features,
        min_samples_split=min_split,
        max_depth=32,
        trees_per_batch=args.trees_per_batch,
    )
    data = [
        smooth_dataset(seed, num_samples + NUM_TEST, num_features)
        for seed in range(args.batch)
    ]
    if args.meta_dataset:
        from jaxmeta.control import meta_dataset

        tuples = meta_dataset.to_tuples(meta_dataset.load(args.meta_dataset))
        x_all = np.concatenate([tuples.obs, tuples.action[:, None]], 1)
        y_all = np.asarray(tuples.reward, np.float32)
        num_samples = int(0.7 * len(y_all))
        data = [(x_all.astype(np.float32), y_all)] * args.batch
        num_features = x_all.shape[1]
        args.max_features = num_features
        forest = dataclasses.replace(forest, max_features=num_features)
    xs = np.stack([x[:num_samples] for x, _ in data])
    ys = np.stack([y[:num_samples] for _, y in data])
    x_tests = np.stack([x[num_samples:] for x, _ in data])
    y_test = data[0][1][num_samples:]
    x, y, x_test = xs[0], ys[0], x_tests[0]

    def sklearn_model(n_jobs):
        return ExtraTreesRegressor(
            n_estimators=args.num_trees,
            max_features=args.max_features,
            min_samples_split=min_split,
            max_depth=32,
            n_jobs=n_jobs,
            random_state=0,
        )

    rows = []
    # Compiled ahead of time, so no timed call includes compilation.
    key = jax.random.key(0)
    fit = jax.jit(forest.fit).lower(key, x, y).compile()
    params = jax.eval_shape(forest.fit, key, x, y)
    predict = jax.jit(forest.predict).lower(params, x_test).compile()
    jax_fit = best_time(
        lambda: jax.block_until_ready(fit(jax.random.key(0), x, y)), args.repeats
    )
    params = jax.block_until_ready(fit(jax.random.key(0), x, y))
    jax_predict = best_time(
        lambda: jax.block_until_ready(predict(params, x_test)), args.repeats
    )
    jax_r2 = r2(y_test, np.asarray(predict(params, x_test)))
    rows.append(("jaxmeta (jit)", "single", jax_fit, jax_predict, jax_r2))
    for n_jobs in (1, -1):
        model = sklearn_model(n_jobs)
        sk_fit = best_time(lambda model=model: model.fit(x, y), args.repeats)
        sk_predict = best_time(lambda model=model: model.predict(x_test), args.repeats)
        sk_r2 = r2(y_test, model.predict(x_test))
        rows.append((f"sklearn n_jobs={n_jobs}", "single", sk_fit, sk_predict, sk_r2))

    keys = jax.random.split(jax.random.key(3), args.batch)
    fit_batch = jax.jit(jax.vmap(forest.fit)).lower(keys, xs, ys).compile()
    params = jax.eval_shape(jax.vmap(forest.fit), keys, xs, ys)
    predict_batch = jax.jit(jax.vmap(forest.predict)).lower(params, x_tests).compile()
    batch_fit = best_time(
        lambda: jax.block_until_ready(fit_batch(keys, xs, ys)), args.repeats
    )
    params = jax.block_until_ready(fit_batch(keys, xs, ys))
    batch_predict = best_time(
        lambda: jax.block_until_ready(predict_batch(params, x_tests)), args.repeats
    )
    batch_r2 = r2(y_test, np.asarray(predict_batch(params, x_tests))[0])
    rows.append(("jaxmeta (jit+vmap)", f"{args.batch} datasets", batch_fit,
                 batch_predict, batch_r2))  # fmt: skip
    for n_jobs in (1, -1):
        models = [sklearn_model(n_jobs) for _ in range(args.batch)]

        def fit_loop(models=models):
            for model, x_i, y_i in zip(models, xs, ys, strict=True):
                model.fit(x_i, y_i)

        def predict_loop(models=models):
            for model, x_i in zip(models, x_tests, strict=True):
                model.predict(x_i)

        loop_fit = best_time(fit_loop, args.repeats)
        loop_predict = best_time(predict_loop, args.repeats)
        loop_r2 = r2(y_test, models[0].predict(x_tests[0]))
        rows.append((f"sklearn loop n_jobs={n_jobs}", f"{args.batch} datasets",
                     loop_fit, loop_predict, loop_r2))  # fmt: skip

    print(
        f"extra trees, {num_samples}x{num_features} train / {x_test.shape[0]} test, "
        f"M={args.num_trees} K={args.max_features} n_min={min_split} "
        f"max_depth=32, device={jax.devices()[0].platform}"
    )
    print("| implementation | data | fit s | predict s | R2 (dataset 0) |")
    print("|---|---|---|---|---|")
    for name, size, fit_s, predict_s, score in rows:
        print(f"| {name} | {size} | {fit_s:.3f} | {predict_s:.3f} | {score:.4f} |")
    single_ratio = rows[0][2] / rows[1][2]
    batch_speedup = rows[4][2] / rows[3][2]
    print(f"single fit / sklearn n_jobs=1 fit: {single_ratio:.2f}x (goal <= 1.0x)")
    goal = "" if args.fqi else " (goal >= 10x)"
    print(f"sklearn n_jobs=1 loop / batched fit: {batch_speedup:.2f}x{goal}")


if __name__ == "__main__":
    main()

import jax
import numpy as np
import pytest

from jaxmeta.score import episodes_to_target, episodes_to_target_from_updates


def reference_episodes_to_target(returns, target, window):
    """Plain loop: first 1-based episode t whose last `window` episodes are all
    real and average >= target; len + 1 if none."""
    for t in range(window, len(returns) + 1):
        last = returns[t - window : t]
        if np.all(np.isfinite(last)) and last.mean() >= target:
            return t
    return len(returns) + 1


def test_known_sequences_padding_and_sentinel():
    returns = np.array(
        [
            [1, 2, 3, 4, 5, 6, 7, 8],
            [5, 5, 5, 5, 5, 5, 5, 5],
            [9, 9, np.nan, 9, 9, 9, np.nan, np.nan],
            [0, 0, 0, 0, 0, 0, 0, 0],
        ],
        np.float32,
    )
    result = np.asarray(episodes_to_target(returns, 4.5, 3))
    # [1] reaches at episode 3 (first full window); [2]'s first window without
    # padding ends at episode 6; [3] never: 8 + 1.
    np.testing.assert_array_equal(result, [6, 3, 6, 9])
    assert result.dtype == np.int32
    np.testing.assert_array_equal(episodes_to_target(returns, 4.5, 20), [9, 9, 9, 9])


def test_matches_the_reference_loop_and_vmaps_with_per_run_targets():
    rng = np.random.default_rng(0)
    returns = rng.normal(0.0, 1.0, (24, 40)).cumsum(axis=1).astype(np.float32)
    # Runs of different lengths: NaN padding after each run's last episode.
    lengths = rng.integers(10, 41, 24)
    returns[np.arange(40)[None, :] >= lengths[:, None]] = np.nan
    targets = rng.uniform(-2.0, 4.0, 24).astype(np.float32)
    window = 5
    expected = [
        reference_episodes_to_target(r, t, window)
        for r, t in zip(returns, targets, strict=True)
    ]
    batched = episodes_to_target(returns, targets, window)
    vmapped = jax.jit(jax.vmap(lambda r, t: episodes_to_target(r, t, window)))(
        returns, targets
    )
    np.testing.assert_array_equal(batched, expected)
    np.testing.assert_array_equal(vmapped, expected)
    assert len(set(expected)) > 3  # the sample exercises several outcomes


def test_from_updates_one_episode_per_update_is_exact():
    rng = np.random.default_rng(1)
    returns = rng.normal(0.0, 1.0, (6, 30)).cumsum(axis=1).astype(np.float32)
    counts = np.ones_like(returns)
    approx = episodes_to_target_from_updates(returns, counts, 1.0, 4)
    exact = episodes_to_target(returns, 1.0, 4)
    np.testing.assert_allclose(approx, exact)


def test_from_updates_is_exact_at_update_granularity():
    rng = np.random.default_rng(2)
    num_runs, num_updates = 16, 12
    means = rng.normal(0.0, 1.0, (num_runs, num_updates)).cumsum(axis=1)
    counts = rng.integers(0, 5, (num_runs, num_updates)).astype(np.float32)
    means = np.where(counts > 0, means, np.nan).astype(np.float32)
    target, window = 0.5, 6
    approx = np.asarray(episodes_to_target_from_updates(means, counts, target, window))
    for run in range(num_runs):
        # The episodes behind the metrics, if each update's returned its mean.
        episodes = np.repeat(np.nan_to_num(means[run]), counts[run].astype(int))
        exact = reference_episodes_to_target(episodes, target, window)
        boundaries = np.cumsum(counts[run])
        if exact > len(episodes):
            assert approx[run] == len(episodes) + 1
        else:
            # Rounded up to the end of the update holding the exact episode.
            assert approx[run] == boundaries[np.searchsorted(boundaries, exact)]


@pytest.mark.parametrize("window", [0, -1, 2.5, True])
def test_bad_window_raises(window):
    with pytest.raises(ValueError, match="window"):
        episodes_to_target(np.zeros(4), 1.0, window)
    with pytest.raises(ValueError, match="window"):
        episodes_to_target_from_updates(np.zeros(4), np.ones(4), 1.0, window)

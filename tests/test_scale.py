"""Issue 5: streaming detection (exactness, memmaps, chunking) and the activation cache."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from sklearn.metrics import silhouette_samples as sk_silhouette_samples

from conftest import make_blob_images, nearest_mean_reclassifier, planted_activations
import poisonscan.detect.detector as dm
from poisonscan import ActivationClustering, TrainConfig, scan
from poisonscan.cache import SIDECAR_FILE, activation_key, cached_activations
from poisonscan.detect import cluster_class, reduce
from poisonscan.detect.chunks import (class_positions, release_pages, split_by_class, take_rows,
                                      unique_counts)
from poisonscan.detect.cluster import best_of_restarts, silhouette_samples
from poisonscan.detect.gram import ClassGrams, work_dtype
from poisonscan.detect.stream import reduce_classes
from poisonscan.errors import InputError
from poisonscan.models.nets import build_model


def _in_memory_path(acts: np.ndarray, y: np.ndarray, method: str, k: int) -> list:
    """The pre-streaming detector: per-class copy, reduce() (FastICA on all features), k-means."""
    out = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        out.append(cluster_class(int(c), idx, reduce(acts[idx], method, n_components=k),
                                 n_init=50))
    return out


def _relu_with_dead_units() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    acts, y, is_poison, _ = planted_activations(seed=2)
    acts = np.maximum(acts, 0)
    acts[:, 0] = 0.0  # a dead unit in column 0, the case that broke FastICA's whitening
    return acts, y, is_poison


@pytest.mark.parametrize("method", ["ica", "pca"])
@pytest.mark.parametrize("k", [3, 10])
def test_streaming_clusters_equal_in_memory_fastica_path(method: str, k: int) -> None:
    acts, y, _ = _relu_with_dead_units()
    old = _in_memory_path(acts, y, method, k)
    det = ActivationClustering(reduce=method, n_components=k, analysis="relative-size")
    det.fit_detect(acts, y, chunk_rows=97)
    for a, b in zip(old, det.classes_):
        np.testing.assert_array_equal(a.assignment, b.assignment)
        # float32 data: the streamed covariance comes from float32 matmuls (rounding ~1e-7)
        np.testing.assert_allclose(a.silhouette, b.silhouette, atol=1e-5)


def test_ica_output_is_white() -> None:
    acts, y, _ = _relu_with_dead_units()
    idx, red = reduce_classes(acts, y, np.unique(y), method="ica", n_components=5)
    for r in red:
        np.testing.assert_allclose(np.cov(r.T, bias=True), np.eye(5), atol=1e-5)  # float32 Gram


def test_dual_route_for_classes_smaller_than_their_width() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 240)
    x = rng.normal(0, 1, (240, 120)) + 4.0 * y[:, None] * (np.arange(120) < 5)
    x[rng.random(240) < 0.15, 7:12] += 6.0  # a planted sub-cluster in every class
    x = np.maximum(x, 0).astype(np.float32)
    for method in ("ica", "pca"):
        old = _in_memory_path(x, y, method, 10)
        det = ActivationClustering(reduce=method, analysis="relative-size")
        det.fit_detect(x, y)
        for a, b in zip(old, det.classes_):
            np.testing.assert_array_equal(a.assignment, b.assignment)


def test_dual_route_arpack_equals_dense_eigh(monkeypatch) -> None:
    import poisonscan.detect.stream as stream  # noqa: PLC0415

    rng = np.random.default_rng(5)
    y = np.repeat([0, 1], 260)  # n = 260 > _EIGSH_MIN samples per class, D = 400 features
    x = rng.normal(0, 1, (520, 400)) + 3.0 * y[:, None] * (np.arange(400) < 8)
    x[rng.random(520) < 0.15, 20:26] += 5.0
    x = np.maximum(x, 0).astype(np.float32)
    _, arpack = reduce_classes(x, y, np.array([0, 1]), method="ica")
    monkeypatch.setattr(stream, "_EIGSH_MIN", 10**9)  # dense eigh for every class
    _, dense = reduce_classes(x, y, np.array([0, 1]), method="ica")
    for a, b in zip(arpack, dense):
        np.testing.assert_allclose(a, b, atol=1e-6)
    old = _in_memory_path(x, y, "ica", 10)
    det = ActivationClustering(analysis="relative-size")
    det.fit_detect(x, y)
    for a, b in zip(old, det.classes_):
        np.testing.assert_array_equal(a.assignment, b.assignment)


def test_flagged_identical_across_chunk_sizes_and_memmap(tmp_path) -> None:
    acts, y, is_poison, _ = planted_activations(seed=4)
    path = tmp_path / "acts.npy"
    np.save(path, acts)
    mapped = np.load(path, mmap_mode="r")
    results = []
    for source, chunk in [(acts, None), (acts, 1), (acts, 333), (mapped, 50), (mapped, None)]:
        det = ActivationClustering(random_state=1)
        res = det.fit_detect(source, y, chunk_rows=chunk,
                             reclassifier=nearest_mean_reclassifier(acts, y))
        results.append(res)
    for res in results[1:]:
        np.testing.assert_array_equal(res.flagged_indices, results[0].flagged_indices)
        np.testing.assert_allclose(res.score, results[0].score, atol=1e-4)  # float32 rounding
    np.testing.assert_array_equal(results[0].is_poison, is_poison)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gram_skips_dead_columns_exactly_and_revives_them(dtype) -> None:
    """Columns equal to the shift so far are left out of the matmul; a column that starts to
    vary later joins with a zero past, so the Gram matrix equals the direct one."""
    rng = np.random.default_rng(7)
    x = np.maximum(rng.standard_normal((300, 12)), 0).astype(dtype)
    x[:, 0] = 0.0  # dead throughout
    x[:, 1] = 3.0  # constant, not zero
    x[:150, 2] = 0.0  # dead in the first chunks, live later
    x[:-1, 3] = x[0, 3]  # differs in the very last row only
    x[0, 4], x[1:, 4] = 2.0, 0.0  # the shift row is the odd one out
    x[:, 5] = np.where(np.arange(300) == 50, np.nan, 1.0)  # NaN makes a column live
    shift = x[:1].astype(np.float64)
    mom = ClassGrams(shift, work_dtype(x.dtype))
    scratch = np.empty(7 * 13, dtype=mom.work_shift.dtype)
    tmp = np.empty(13 * 13, dtype=mom.work_shift.dtype)
    for a in range(0, 300, 7):
        mom.add(0, x[a:a + 7], scratch, tmp)
    assert mom.live[0].tolist() == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    got = mom.natural(0)
    aug = np.hstack([x.astype(np.float64) - shift, np.ones((300, 1))])
    want = aug.T @ aug
    assert np.isnan(got[5, 5])  # non-finite input stays visible (the detector checks)
    ok = np.r_[0:5, 6:13]
    np.testing.assert_allclose(got[np.ix_(ok, ok)], want[np.ix_(ok, ok)],
                               rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-9)
    assert (got[[0, 1]] == 0).all() and got[12, 12] == 300


def test_gram_budget_groups_and_threads_do_not_change_the_result() -> None:
    acts, y, _, _ = planted_activations(seed=5, n_classes=5)
    classes = np.unique(y)
    _, ref = reduce_classes(acts, y, classes, chunk_rows=128)
    small = 8 * acts.shape[1] ** 2 * 2  # two classes' Gram matrices at a time
    _, grouped = reduce_classes(acts, y, classes, chunk_rows=61, gram_budget=small, n_jobs=1)
    for a, b in zip(ref, grouped):
        # float32 rounding only; it turns the near-degenerate noise components by up to ~1e-4
        np.testing.assert_allclose(a, b, atol=1e-3)


def test_float16_memmap_and_non_finite_values(tmp_path) -> None:
    acts, y, is_poison, _ = planted_activations(seed=6)
    path = tmp_path / "half.npy"
    np.save(path, acts.astype(np.float16))
    res = ActivationClustering(analysis="relative-size").fit_detect(
        np.load(path, mmap_mode="r"), y)
    np.testing.assert_array_equal(res.is_poison, is_poison)
    for method in ("ica", "none"):
        bad = acts.copy()
        bad[-1, 3] = np.inf
        with pytest.raises(InputError, match="NaN or inf"):
            ActivationClustering(reduce=method, analysis="relative-size").fit_detect(
                bad, y, chunk_rows=64)


def test_release_pages_keeps_data(tmp_path) -> None:
    acts = np.arange(4096 * 8, dtype=np.float32).reshape(4096, 8)
    np.save(tmp_path / "a.npy", acts)
    mapped = np.load(tmp_path / "a.npy", mmap_mode="r")
    total = float(mapped[:2048].sum())
    release_pages(mapped)
    release_pages(acts)  # no-op on an ordinary array
    assert float(mapped[:2048].sum()) == total
    np.testing.assert_array_equal(mapped, acts)


def test_silhouette_equals_scikit_learn() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(700, 4))
    labels = rng.integers(0, 3, 700)
    labels[0] = 4  # a singleton cluster, and cluster 3 absent
    np.testing.assert_allclose(silhouette_samples(x, labels, 5, chunk=64),
                               sk_silhouette_samples(x, labels), atol=1e-5)  # float32
    far = x + 1e4  # far from the origin: centred before the float32 distances
    np.testing.assert_allclose(silhouette_samples(far, labels, 5),
                               sk_silhouette_samples(far, labels), atol=1e-5)


def test_large_class_restarts_on_a_subsample_find_the_planted_split() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(30_000, 10))
    poison = np.arange(len(x)) < 3000  # a 10% cluster, 12 sd away along one axis
    x[poison, 0] += 12.0
    direct = best_of_restarts(x, 2, 20, 0, sample_size=0)
    sampled = best_of_restarts(x, 2, 20, 0, sample_size=5000)
    for km in (direct, sampled):
        minority = np.argmin(np.bincount(km.labels_))
        np.testing.assert_array_equal(km.labels_ == minority, poison)
    assert sampled.inertia_ == pytest.approx(direct.inertia_, rel=1e-9)
    again = best_of_restarts(x, 2, 20, 0, sample_size=5000)
    np.testing.assert_array_equal(again.labels_, sampled.labels_)  # seeded


@pytest.mark.parametrize("source", ["memory", "memmap"])
def test_restarts_beside_the_second_pass_equal_restarts_afterwards(monkeypatch, tmp_path,
                                                                   source: str) -> None:
    """The detector runs each large class's subsample restarts while pass 2 reduces the rest;
    the clusters are those of restarting on the reduced class afterwards."""
    acts, y, is_poison, _ = planted_activations(seed=8, n_clean=600)
    if source == "memmap":  # the restart thread reads its rows with preadv meanwhile
        np.save(tmp_path / "acts.npy", acts.astype(np.float32))
        acts = np.load(tmp_path / "acts.npy", mmap_mode="r")
    calls = []
    real = dm.screen_restarts
    monkeypatch.setattr(dm, "screen_restarts", lambda *a: calls.append(1) or real(*a))
    det = ActivationClustering(analysis="relative-size", restart_sample_size=200)
    res = det.fit_detect(acts, y, chunk_rows=97)
    assert len(calls) == len(np.unique(y))  # every class was screened beside the pass
    np.testing.assert_array_equal(res.is_poison, is_poison)
    for cc in det.classes_:
        after = cluster_class(cc.label, cc.indices, cc.reduced, restart_sample_size=200)
        np.testing.assert_array_equal(after.assignment, cc.assignment)
        np.testing.assert_allclose(after.centers, cc.centers, atol=1e-9)


def test_label_counting_fast_paths() -> None:
    y = np.array([7, 3, 3, 9, 7, 7])
    present, counts = unique_counts(y)
    assert present.tolist() == [3, 7, 9] and counts.tolist() == [2, 3, 1]
    assert class_positions(y, present).tolist() == [1, 0, 0, 2, 1, 1]
    big = np.array([2**40, 5, 2**40])  # too sparse to count: the sorting fallback
    present, counts = unique_counts(big)
    assert present.tolist() == [5, 2**40] and counts.tolist() == [1, 2]
    assert class_positions(big, present).tolist() == [1, 0, 1]


def test_split_by_class() -> None:
    cls = np.array([2, 0, 2, 1, 0])
    assert [p.tolist() for p in split_by_class(cls, 4)] == [[1, 4], [3], [0, 2], []]


# -- the activation cache ----------------------------------------------------------------------
@pytest.fixture
def model_and_data():
    data = make_blob_images(n_per_class=30)
    return build_model("cnn", data.x.shape[1:], 3, seed=0), data


def test_cache_is_written_then_reused(tmp_path, model_and_data, monkeypatch) -> None:
    model, data = model_and_data
    first = cached_activations(model, data.x, tmp_path, batch_size=16)
    assert not first.reused and first.path.name == "activations.npy"
    meta = json.loads((tmp_path / SIDECAR_FILE).read_text())
    assert meta["key"] == first.key and meta["shape"] == list(first.array.shape)
    import poisonscan.cache as cache_mod

    def boom(*_a, **_k):
        raise AssertionError("a cache hit must not run the model")

    monkeypatch.setattr(cache_mod, "extract_activations", boom)
    again = cached_activations(model, data.x, tmp_path)
    assert again.reused
    np.testing.assert_array_equal(again.array, first.array)


def test_cache_is_never_stale(tmp_path, model_and_data) -> None:
    model, data = model_and_data
    base = cached_activations(model, data.x, tmp_path)
    x2 = data.x.copy()
    x2[0, 0, 0] ^= 1  # one bit of the data
    assert activation_key(model, x2) != base.key
    changed = cached_activations(model, x2, tmp_path)
    assert not changed.reused
    with __import__("torch").no_grad():
        next(model.parameters()).add_(1e-3)  # the weights
    assert not cached_activations(model, x2, tmp_path).reused
    half = cached_activations(model, x2, tmp_path, dtype="float16")  # the dtype
    assert not half.reused and half.array.dtype == np.float16
    (tmp_path / SIDECAR_FILE).write_text("{not json")  # a damaged sidecar
    assert not cached_activations(model, x2, tmp_path, dtype="float16").reused
    with pytest.raises(InputError, match="dtype"):
        cached_activations(model, x2, tmp_path, dtype="int8")


def test_scan_with_cache_dir_equals_scan_in_memory(tmp_path) -> None:
    data = make_blob_images(n_per_class=40)
    kwargs = dict(detector=ActivationClustering(n_components=4, n_init=5,
                                                analysis="relative-size"),
                  train_config=TrainConfig(epochs=1, batch_size=32), progress=False)
    plain = scan(data, **kwargs)
    cached = scan(data, cache_dir=tmp_path, **kwargs)
    assert isinstance(cached.activations, np.memmap)
    np.testing.assert_array_equal(cached.activations, plain.activations)
    np.testing.assert_array_equal(cached.detection.flagged_indices,
                                  plain.detection.flagged_indices)
    assert (tmp_path / "activations.npy").exists() and (tmp_path / SIDECAR_FILE).exists()


@pytest.mark.parametrize("mode", ["r", "r+", "c"])
def test_take_rows_reads_what_indexing_returns(tmp_path, mode: str) -> None:
    rng = np.random.default_rng(9)
    acts = rng.normal(size=(300, 7)).astype(np.float32)
    np.save(tmp_path / "a.npy", acts)
    mapped = np.load(tmp_path / "a.npy", mmap_mode=mode)
    for rows in (np.array([0, 1, 2, 50, 51, 299]), rng.permutation(300)[:40], np.array([], int)):
        np.testing.assert_array_equal(take_rows(mapped, rows), acts[rows])
        np.testing.assert_array_equal(take_rows(acts, rows), acts[rows])
    view = mapped[17:200]  # a slice keeps its parent's offset: the position must still be right
    np.testing.assert_array_equal(take_rows(view, np.array([0, 5, 6, 182])),
                                  acts[17:200][[0, 5, 6, 182]])
    np.save(tmp_path / "b.npy", acts + 1)
    os.replace(tmp_path / "b.npy", tmp_path / "a.npy")  # the path now names another file
    np.testing.assert_array_equal(take_rows(mapped, np.array([3, 4, 9])), acts[[3, 4, 9]])
    half = np.lib.format.open_memmap(tmp_path / "h.npy", mode="w+", dtype=np.float16,
                                     shape=(50, 3))
    half[:] = acts[:50, :3]  # written through the map, not flushed: preadv sees the page cache
    np.testing.assert_array_equal(take_rows(half, np.arange(0, 50, 7)),
                                  acts[:50, :3].astype(np.float16)[::7])


def test_flags_do_not_depend_on_the_extraction_batch_size(tmp_path) -> None:
    from poisonscan.attacks import get_trigger, parse_mapping, poison_dataset  # noqa: PLC0415
    from poisonscan.train import train_model  # noqa: PLC0415
    data = poison_dataset(make_blob_images(n_per_class=40), get_trigger("pattern"),
                          parse_mapping("all-to-next", 3), rate=0.2, seed=0)
    model = build_model("cnn", data.x.shape[1:], 3, seed=0)
    train_model(model, data.x, data.y, TrainConfig(epochs=3, batch_size=16), progress=False)
    flags, arrays = [], []
    for batch in (1, 7, 256):
        acts = cached_activations(model, data.x, tmp_path / f"b{batch}", batch_size=batch).array
        det = ActivationClustering(n_components=4, n_init=5, analysis="relative-size")
        flags.append(det.fit_detect(acts, data.y).flagged_indices)
        arrays.append(np.asarray(acts))
    assert len(flags[0]) > 0
    for f, a in zip(flags[1:], arrays[1:]):
        np.testing.assert_array_equal(f, flags[0])
        np.testing.assert_allclose(a, arrays[0], rtol=1e-5, atol=1e-6)

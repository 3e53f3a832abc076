from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from adainf.config import CIFAR10_MEAN, CIFAR10_STD
from adainf.evaluate import (
    OnlineLinearProbe,
    evaluate_encoder,
    evaluate_online_probe,
    extract_features,
    knn_accuracy,
    knn_predict,
    linear_probe,
)

# ----------------------------------------------------------------------------------------------------------
# Helpers


def brute_force_knn(
    train: np.ndarray, labels: np.ndarray, test: np.ndarray, k: int, temperature: float, num_classes: int
) -> np.ndarray:
    """InstDisc's weighted kNN written out point by point, in float64."""
    keep = labels >= 0
    train, labels = train[keep], labels[keep]
    train = train / np.linalg.norm(train, axis=1, keepdims=True)
    k = min(k, len(train))
    preds = []
    for q in test:
        q = q / np.linalg.norm(q)
        sims = [float(np.dot(q, t)) for t in train]
        nearest = sorted(range(len(train)), key=lambda j: -sims[j])[:k]
        scores = [0.0] * num_classes
        for j in nearest:
            scores[labels[j]] += math.exp(sims[j] / temperature)
        preds.append(max(range(num_classes), key=lambda c: scores[c]))
    return np.array(preds)


def gaussian_classes(
    n: int, dim: int, num_classes: int, separation: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """n points, classes in turn, each an isotropic unit Gaussian around its own random centre."""
    centres = torch.randn(num_classes, dim, generator=torch.Generator().manual_seed(1234)) * separation
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % num_classes
    return centres[y] + torch.randn(n, dim, generator=g), y


def tiny_convnet(dim: int = 16) -> nn.Module:
    """Conv + BatchNorm + dropout, so that a forgotten eval() changes the features."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Conv2d(8, dim, 3, stride=2),
        nn.AdaptiveAvgPool2d(1),  # (B, dim, 1, 1): extract_features must flatten it
    )
    bn = net[1]
    bn.running_mean.uniform_(-0.5, 0.5)
    bn.running_var.uniform_(0.5, 2.0)
    return net


def random_images(n: int, seed: int, size: int = 16) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)


# ----------------------------------------------------------------------------------------------------------
# kNN


@pytest.mark.parametrize(("k", "temperature"), [(1, 0.1), (7, 0.1), (20, 0.5), (60, 0.07)])
def test_knn_matches_brute_force(k, temperature):
    rng = np.random.default_rng(k)
    train = rng.normal(size=(120, 8))
    labels = rng.integers(0, 4, size=120)
    test = rng.normal(size=(40, 8))
    expected = brute_force_knn(train, labels, test, k, temperature, 4)
    got = knn_predict(
        torch.from_numpy(train).float(),
        torch.from_numpy(labels),
        torch.from_numpy(test).float(),
        k=k,
        temperature=temperature,
        num_classes=4,
    )
    assert got.dtype == torch.int64 and got.shape == (40,)
    np.testing.assert_array_equal(got.numpy(), expected)


def test_knn_clips_k_to_labelled_train_size():
    rng = np.random.default_rng(0)
    train, labels = rng.normal(size=(30, 5)), rng.integers(0, 3, size=30)
    labels[:10] = -1  # 20 labelled points remain
    test = rng.normal(size=(25, 5))
    tr, te, lab = torch.from_numpy(train).float(), torch.from_numpy(test).float(), torch.from_numpy(labels)
    big = knn_predict(tr, lab, te, k=500, num_classes=3)
    exact = knn_predict(tr, lab, te, k=20, num_classes=3)
    torch.testing.assert_close(big, exact)
    np.testing.assert_array_equal(big.numpy(), brute_force_knn(train, labels, test, 20, 0.1, 3))


def test_knn_ignores_unlabelled_train_points():
    # The query sits exactly on a -1 point (similarity 1); its only labelled neighbour is of class 2.
    train = torch.tensor([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.0]])
    labels = torch.tensor([-1, 2, 0])
    query = torch.tensor([[1.0, 0.0]])
    assert knn_predict(train, labels, query, k=1, num_classes=3).tolist() == [2]
    # Many -1 points, each a copy of some query, change nothing against dropping them beforehand.
    x, y = gaussian_classes(200, 6, 4, 1.0, seed=0)
    q, _ = gaussian_classes(50, 6, 4, 1.0, seed=1)
    with_gen = torch.cat([x, q + 1e-3])
    y_gen = torch.cat([y, torch.full((50,), -1)])
    torch.testing.assert_close(
        knn_predict(with_gen, y_gen, q, k=15, num_classes=4), knn_predict(x, y, q, k=15, num_classes=4)
    )


def test_knn_chunking_does_not_change_predictions():
    x, y = gaussian_classes(300, 10, 5, 0.3, seed=0)
    q, _ = gaussian_classes(101, 10, 5, 0.3, seed=1)
    one = knn_predict(x, y, q, k=25, num_classes=5, chunk_size=10_000)
    for chunk in (1, 7, 100):
        torch.testing.assert_close(knn_predict(x, y, q, k=25, num_classes=5, chunk_size=chunk), one)


def test_knn_accuracy_separated_clusters_and_random_labels():
    x, y = gaussian_classes(1000, 16, 10, 5.0, seed=0)
    q, yq = gaussian_classes(500, 16, 10, 5.0, seed=1)
    assert knn_accuracy(x, y, q, yq, num_classes=10) == 1.0
    # Labels independent of the features: about 1 / 10 (sd of 2000 Bernoulli(0.1) ~ 0.007).
    g = torch.Generator().manual_seed(0)
    x, q = torch.randn(2000, 16, generator=g), torch.randn(2000, 16, generator=g)
    y, yq = torch.randint(0, 10, (2000,), generator=g), torch.randint(0, 10, (2000,), generator=g)
    assert abs(knn_accuracy(x, y, q, yq, num_classes=10) - 0.1) < 0.04


def test_knn_accuracy_skips_unlabelled_test_rows():
    x, y = gaussian_classes(200, 8, 4, 5.0, seed=0)
    q, yq = gaussian_classes(40, 8, 4, 5.0, seed=1)
    yq_wrong = yq.clone()
    yq_wrong[:10] = -1  # were these scored, they would count as errors
    assert knn_accuracy(x, y, q, yq_wrong, num_classes=4, k=10) == 1.0


def test_knn_rejects_labels_out_of_range():
    with pytest.raises(ValueError, match="train_labels"):
        knn_predict(torch.randn(5, 2), torch.tensor([0, 1, 2, 3, 4]), torch.randn(2, 2), num_classes=3)
    with pytest.raises(ValueError, match="no labelled"):
        knn_predict(torch.randn(3, 2), torch.full((3,), -1), torch.randn(2, 2), num_classes=3)


# ----------------------------------------------------------------------------------------------------------
# Offline linear probe


def test_linear_probe_separable_classes():
    x, y = gaussian_classes(2000, 32, 10, 3.0, seed=0)
    xt, yt = gaussian_classes(1000, 32, 10, 3.0, seed=1)
    r = linear_probe(x, y, xt, yt, num_classes=10, epochs=30)
    assert r["offline_linear_top1"] >= 0.99
    assert r["offline_linear_train_top1"] >= 0.99
    assert r["offline_linear_epochs"] == 30


def test_linear_probe_random_labels_is_chance():
    x, y = gaussian_classes(2000, 64, 10, 3.0, seed=0)
    xt, yt = gaussian_classes(2000, 64, 10, 3.0, seed=1)
    perm = torch.randperm(2000, generator=torch.Generator().manual_seed(0))
    r = linear_probe(x, y[perm], xt, yt, num_classes=10, epochs=50)
    assert r["offline_linear_top1"] <= 0.2
    assert r["offline_linear_train_top1"] > 0.2  # it did fit the noise it was given


def test_linear_probe_ignores_minus_one_and_is_deterministic():
    x, y = gaussian_classes(600, 16, 5, 0.8, seed=0)
    xt, yt = gaussian_classes(300, 16, 5, 0.8, seed=1)
    rng_state = torch.get_rng_state()
    base = linear_probe(x, y, xt, yt, num_classes=5, epochs=20, batch_size=64, seed=3)
    assert torch.equal(torch.get_rng_state(), rng_state)  # the global RNG is left alone
    assert base == linear_probe(x, y, xt, yt, num_classes=5, epochs=20, batch_size=64, seed=3)
    assert 0.5 < base["offline_linear_top1"] < 1.0  # a hard enough task for the comparisons to mean something
    # Interleave far-off, large-scale unlabelled rows into train and test: exactly the same result, since
    # they enter neither the standardisation statistics, nor the batch order, nor the score.
    g = torch.Generator().manual_seed(9)
    junk = 100.0 * torch.randn(200, 16, generator=g) + 50.0
    xs = torch.cat([junk[:100], x, junk[100:]])
    ys = torch.cat([torch.full((100,), -1), y, torch.full((100,), -1)])
    xts = torch.cat([xt, junk])
    yts = torch.cat([yt, torch.full((200,), -1)])
    assert linear_probe(xs, ys, xts, yts, num_classes=5, epochs=20, batch_size=64, seed=3) == base


def test_linear_probe_is_invariant_to_feature_scale_and_offset():
    # Standardisation with the train statistics, applied to train and test alike, undoes any per-dimension
    # affine map of the features (up to float rounding, so allow one test point of difference).
    x, y = gaussian_classes(600, 16, 5, 0.8, seed=0)
    xt, yt = gaussian_classes(300, 16, 5, 0.8, seed=1)
    scale = torch.logspace(-2, 2, 16)
    shift = torch.linspace(-50.0, 50.0, 16)
    base = linear_probe(x, y, xt, yt, num_classes=5, epochs=20, batch_size=64)
    moved = linear_probe(
        x * scale + shift, y, xt * scale + shift, yt, num_classes=5, epochs=20, batch_size=64
    )
    assert abs(moved["offline_linear_top1"] - base["offline_linear_top1"]) <= 1 / 300 + 1e-12


# ----------------------------------------------------------------------------------------------------------
# Feature extraction


def test_extract_features_centers_and_normalizes():
    images = random_images(5, seed=0, size=4)
    f = extract_features(nn.Flatten(), images)  # parameter-free module: runs on the CPU
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    expected = ((images.float() / 255 - mean) / std).flatten(1)
    torch.testing.assert_close(f, expected)


def test_extract_features_shape_mode_and_batch_invariance():
    net = tiny_convnet(dim=16)
    net.train()
    net[1].eval()  # a deliberately frozen BN must stay in eval mode afterwards
    images = random_images(37, seed=1)
    f = extract_features(net, images, batch_size=64)
    assert f.shape == (37, 16) and f.dtype == torch.float32
    # With BN in batch-statistics mode or dropout on, batches of 5 would give other features.
    torch.testing.assert_close(extract_features(net, images, batch_size=5), f, rtol=1e-5, atol=1e-5)
    assert net.training and net[3].training and not net[1].training
    assert net[1].num_batches_tracked.item() == 0  # running statistics untouched


def test_extract_features_restores_mode_on_error():
    class Boom(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("boom")

    net = nn.Sequential(nn.BatchNorm2d(3), Boom())
    net.train()
    with pytest.raises(RuntimeError, match="boom"):
        extract_features(net, random_images(2, seed=0))
    assert all(m.training for m in net.modules())


def test_extract_features_rejects_float_images():
    with pytest.raises(TypeError, match="uint8"):
        extract_features(nn.Flatten(), torch.rand(2, 3, 4, 4))


# ----------------------------------------------------------------------------------------------------------
# Online linear probe


def test_online_probe_loss_is_cross_entropy_over_labelled_rows():
    torch.manual_seed(0)
    probe = OnlineLinearProbe(6, 4)
    feats = torch.randn(8, 6)
    labels = torch.tensor([0, -1, 3, 2, -1, 1, 1, -1])
    loss, parts = probe.loss(feats, labels)
    logits = feats @ probe.linear.weight.T + probe.linear.bias
    rows = [i for i in range(8) if labels[i] >= 0]
    by_hand = sum(-(logits[i, labels[i]] - torch.logsumexp(logits[i], 0)) for i in rows) / len(rows)
    torch.testing.assert_close(loss, by_hand)
    torch.testing.assert_close(parts["online_linear_loss"], by_hand.detach())
    acc = sum(int(logits[i].argmax() == labels[i]) for i in rows) / len(rows)
    assert parts["online_linear_acc"].item() == pytest.approx(acc)


def test_online_probe_all_unlabelled_batch_gives_zero_loss_with_grad():
    probe = OnlineLinearProbe(6, 4)
    loss, parts = probe.loss(torch.randn(5, 6), torch.full((5,), -1))
    assert loss.item() == 0.0 and loss.requires_grad
    assert parts["online_linear_acc"].item() == 0.0 and math.isfinite(parts["online_linear_loss"].item())
    loss.backward()
    assert probe.linear.weight.grad is not None and torch.all(probe.linear.weight.grad == 0)


def test_online_probe_gradient_reaches_probe_only():
    # The probe detaches its input: a features tensor that requires grad (as the backbone output does)
    # must get no gradient from the probe loss.
    probe = OnlineLinearProbe(6, 3)
    feats = torch.randn(10, 6, requires_grad=True)
    loss, _ = probe.loss(feats, torch.randint(0, 3, (10,)))
    loss.backward()
    assert feats.grad is None
    assert probe.linear.weight.grad is not None and probe.linear.weight.grad.abs().sum() > 0


def test_evaluate_online_probe_counts_labelled_rows():
    probe = OnlineLinearProbe(3, 3)
    with torch.no_grad():
        probe.linear.weight.copy_(torch.eye(3))
        probe.linear.bias.zero_()
    feats = torch.eye(3).repeat(4, 1)  # predicts 0, 1, 2, 0, 1, 2, ...
    labels = torch.tensor([0, 1, 2, 0, 1, 0, -1, -1, -1, 0, 0, 0])  # 6 right of the 9 labelled rows
    probe.train()
    assert evaluate_online_probe(probe, feats, labels) == pytest.approx(6 / 9)
    assert probe.training


# ----------------------------------------------------------------------------------------------------------
# The offline protocol


def test_evaluate_encoder_keys_and_ranges():
    net = tiny_convnet(dim=12)
    net.train()
    train_x, test_x = random_images(60, seed=0), random_images(30, seed=1)
    train_y = torch.arange(60) % 3
    train_y[::4] = -1  # 15 generated images
    test_y = torch.arange(30) % 3
    r = evaluate_encoder(
        net, train_x, train_y, test_x, test_y, num_classes=3, device="cpu", k=200, probe_epochs=5
    )
    expected = {"knn_top1", "offline_linear_top1", "knn_k", "knn_temperature", "n_train", "n_test"}
    assert expected | {"feature_dim", "seconds"} <= set(r)
    assert 0.0 <= r["knn_top1"] <= 1.0 and 0.0 <= r["offline_linear_top1"] <= 1.0
    assert (r["n_train"], r["n_test"], r["feature_dim"], r["knn_k"]) == (45, 30, 12, 45)
    assert r["knn_temperature"] == 0.1 and r["seconds"] > 0
    assert net.training

import shutil

import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image

from utils import data
from utils.data import MEAN, RAW_FILES, STD, Augment, DataError, TensorLoader

BILINEAR = TF.InterpolationMode.BILINEAR


@pytest.fixture(scope="module")
def test_images():
    return data.load_tensors(False)


def digit(index=0):
    """One real test digit as a float (1, 1, 28, 28) batch in [0, 1]."""
    return data.load_tensors(False)[0][index:index + 1].float() / 255


# --- where the data is, and what happens when it is missing or damaged ---------------------

def test_data_root_argument_beats_environment_beats_default(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_ROOT", str(tmp_path / "env"))
    assert data.data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data.data_root() == tmp_path / "env"
    monkeypatch.delenv("MNIST_ROOT")
    assert data.data_root() == data.REPO_ROOT / "data"


def test_missing_data_offline_gives_one_clear_error(tmp_path, offline):
    with pytest.raises(DataError) as error:
        data.mnist(train=True, root=tmp_path)
    message = str(error.value)
    assert str(tmp_path.resolve()) in message
    assert all(name in message for name in RAW_FILES)
    assert "MNIST_ROOT" in message


def copy_raw(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    shutil.copytree(data.data_root() / "MNIST" / "raw", raw)
    for f in raw.iterdir():
        f.chmod(0o644)
    return raw


def test_truncated_file_is_reported_not_read(tmp_path, offline):
    raw = copy_raw(tmp_path)
    path = raw / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1_000_000])
    with pytest.raises(DataError, match="train-images-idx3-ubyte is damaged.*1,000,000 bytes"):
        data.mnist(train=True, root=tmp_path)


def test_file_with_wrong_header_is_reported(tmp_path, offline):
    raw = copy_raw(tmp_path)
    path = raw / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"\x00" * path.stat().st_size)  # right size, not an MNIST file
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte is damaged.*header wrong"):
        data.mnist(train=False, root=tmp_path)


def test_good_copy_loads_without_network(tmp_path, offline):
    copy_raw(tmp_path)
    ds = data.mnist(train=False, root=tmp_path)
    assert len(ds) == 10_000


# --- statistics and splits -----------------------------------------------------------------

def test_normalization_constants_come_from_the_training_set():
    mean, std = data.mean_std()
    assert mean == pytest.approx(MEAN, abs=5e-5)
    assert std == pytest.approx(STD, abs=5e-5)


def test_class_counts_are_mnists(test_images):
    counts = torch.bincount(test_images[1], minlength=10).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_validation_split_is_seeded_disjoint_and_complete():
    train, val = data.train_val_indices(seed=0)
    assert len(train) == 50_000 and len(val) == 10_000
    assert torch.cat([train, val]).sort().values.equal(torch.arange(60_000))
    again, _ = data.train_val_indices(seed=0)
    other, _ = data.train_val_indices(seed=1)
    assert train.equal(again) and not train.equal(other)


def test_protocols_hold_the_right_images():
    (xtr, ytr), (xte, yte) = data.splits("test")
    assert (len(ytr), len(yte)) == (60_000, 10_000)
    (xtr, ytr), (xva, yva) = data.splits("val")
    assert (len(ytr), len(yva)) == (50_000, 10_000)
    # Both parts come from the training set, at the seeded indices; the test set stays out.
    x, y = data.load_tensors(True)
    tr, va = data.train_val_indices(seed=0)
    assert xtr.equal(x[tr]) and ytr.equal(y[tr]) and xva.equal(x[va]) and yva.equal(y[va])
    with pytest.raises(ValueError, match="protocol"):
        data.splits("train")
    with pytest.raises(ValueError, match="protocol must be 'test' or 'val', not 'tset'"):
        data.torchvision_loaders("tset", num_workers=0)


def test_smoke_mode_is_off_by_default_and_visible_when_on(monkeypatch, capsys):
    assert not data.smoke_mode()
    monkeypatch.setenv("WORKBOOK_SMOKE", "0")
    assert not data.smoke_mode()
    monkeypatch.setenv("WORKBOOK_SMOKE", "1")
    train, test = data.fast_loaders()
    assert len(train.labels) == data.SMOKE_TRAIN and len(test.labels) == data.SMOKE_TEST
    assert "smoke mode" in capsys.readouterr().out


# --- the fast path ------------------------------------------------------------------------

def test_affine_matches_torchvision_exactly():
    x = data.load_tensors(False)[0][:16].float() / 255
    n = len(x)
    ours = data.affine(x, torch.full((n,), 20.0), torch.tensor([[3 / 28, -2 / 28]]).repeat(n, 1),
                       torch.full((n,), 1.1), torch.full((n,), 10.0))
    theirs = TF.affine(x, angle=-20.0, translate=[3, -2], scale=1.1, shear=[10.0, 0.0],
                       interpolation=BILINEAR)  # TF.affine turns clockwise, TF.rotate does not
    assert (ours - theirs).abs().max() < 1e-4
    rotated = TF.rotate(x, 20.0, interpolation=BILINEAR)
    ours = data.affine(x, torch.full((n,), 20.0), torch.zeros(n, 2), torch.ones(n), torch.zeros(n))
    assert (ours - rotated).abs().max() < 1e-4


def blob_angle(x):
    """Angle in degrees (counter-clockwise, image y pointing down) of each image's centroid."""
    rows = torch.arange(28.0).view(1, 28, 1) - 13.5
    cols = torch.arange(28.0).view(1, 1, 28) - 13.5
    mass = x[:, 0].sum((1, 2))
    cy, cx = (x[:, 0] * rows).sum((1, 2)) / mass, (x[:, 0] * cols).sum((1, 2)) / mass
    return torch.rad2deg(torch.atan2(-cy, cx))


def test_random_rotation_stays_within_the_range_asked():
    x = torch.zeros(512, 1, 28, 28)
    x[:, :, 12:16, 20:24] = 1.0  # a blob to the right of the centre, at angle 0
    angles = blob_angle(data.random_affine(x, degrees=15, generator=torch.Generator().manual_seed(0)))
    assert angles.abs().max() <= 15.5
    assert angles.min() < -12 and angles.max() > 12  # and it uses the whole range
    assert angles.unique().numel() > 500  # every image gets its own angle


def test_background_stays_background():
    generator = torch.Generator().manual_seed(0)
    # What a warp brings in from outside the image is background (0), not a copy of the edge.
    shifted = Augment(translate=0.15).batch(torch.ones(64, 1, 28, 28), generator)
    assert (shifted == 0).any(dim=(1, 2, 3)).float().mean() > 0.5
    # Corners of an MNIST digit are empty; a 10-degree turn and a small shift keep them so.
    x = digit().repeat(64, 1, 1, 1)
    warped = Augment(degrees=10, translate=0.05).batch(x, generator)
    assert not torch.equal(warped[0], warped[1])
    corners = warped[:, :, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert corners.abs().max() < 1e-6


def test_cutout_clears_one_square_per_image():
    x = torch.ones(256, 1, 28, 28)
    out = data.cutout(x, 8, generator=torch.Generator().manual_seed(0))
    cleared = (out == 0).sum((1, 2, 3))
    assert cleared.max() == 64 and cleared.min() >= 16  # a square overhanging an edge is cut
    assert cleared.min() < 64
    assert not torch.equal(out[0], out[1])


def test_loader_keeps_labels_with_their_images():
    # Image i carries its index in a big central patch, which a small warp cannot move away.
    n = 300
    images = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    images[:, :, 8:20, 8:20] = torch.arange(n).view(n, 1, 1, 1) % 250 + 5
    labels = torch.arange(n)
    loader = TensorLoader(images, labels, batch_size=64, shuffle=True,
                          augment=Augment(degrees=10, translate=0.05), seed=0)
    seen = []
    for x, y in loader:
        centre = (x[:, 0, 14, 14] * STD + MEAN) * 255
        assert torch.allclose(centre, (y % 250 + 5).float(), atol=0.5)
        seen.append(y)
    assert len(loader) == 5 and torch.cat(seen).sort().values.equal(labels)


def test_loader_warps_before_it_normalizes():
    # Augmented in [0, 1], then normalized: what a shift brings in is black (0) normalized,
    # not 0 in normalized units (a grey), and the white digit stays white.
    white = torch.full((64, 1, 28, 28), 255, dtype=torch.uint8)
    x, _ = next(iter(TensorLoader(white, torch.zeros(64, dtype=torch.long), batch_size=64,
                                  augment=Augment(translate=0.15), seed=0)))
    black, full = -MEAN / STD, (1 - MEAN) / STD
    assert x.min() == pytest.approx(black, abs=1e-5) and x.max() == pytest.approx(full, abs=1e-5)


def test_loader_without_augmentation_normalizes_like_torchvision(test_images):
    x, y = test_images
    batch, labels = next(iter(TensorLoader(x[:10], y[:10])))
    reference = Augment().pil()
    expected = torch.stack([reference(Image.fromarray(img[0].numpy())) for img in x[:10]])
    assert torch.allclose(batch, expected, atol=1e-5)
    assert labels.equal(y[:10])


def test_same_seed_same_batches():
    x, y = torch.randint(0, 255, (100, 1, 28, 28), dtype=torch.uint8), torch.arange(100)
    def batches(seed):
        loader = TensorLoader(x, y, 32, shuffle=True, augment=Augment(degrees=10), seed=seed)
        return [b for b, _ in loader]

    one, two, other = batches(3), batches(3), batches(4)
    assert len(one) == len(two) == 4
    assert all(torch.equal(a, b) for a, b in zip(one, two))
    assert not torch.equal(one[0], other[0])


def test_classic_pipeline_gives_normalized_tensors_with_the_same_augmentation():
    augment = Augment(degrees=15, translate=0.1, scale=0.1, shear=5, cutout=6, noise=0.1)
    transform = augment.pil()
    image = Image.fromarray((digit()[0, 0] * 255).byte().numpy())
    out = transform(image)
    assert out.shape == (1, 28, 28) and out.dtype == torch.float32
    assert out.min() >= -MEAN / STD - 1e-5 and out.max() <= (1 - MEAN) / STD + 1e-5
    names = [type(t).__name__ for t in transform.transforms]
    assert names[0] == "RandomAffine" and "RandomErasing" in names and "GaussianNoise" in names
    affine = transform.transforms[0]
    assert affine.degrees == [-15.0, 15.0] and list(affine.translate) == [0.1, 0.1]
    assert list(affine.scale) == [0.9, 1.1] and list(affine.shear) == [-5.0, 5.0]


def test_torchvision_loaders_yield_batches(monkeypatch):
    monkeypatch.setenv("WORKBOOK_SMOKE", "1")
    train, test = data.torchvision_loaders(augment=Augment(degrees=10), batch_size=64,
                                           num_workers=0)
    x, y = next(iter(train))
    assert x.shape == (64, 1, 28, 28) and y.shape == (64,)
    assert len(train.dataset) == data.SMOKE_TRAIN and len(test.dataset) == data.SMOKE_TEST
    # Training images are augmented as asked; the held-out ones never are.
    train_steps = [type(t).__name__ for t in train.dataset.dataset.transform.transforms]
    test_steps = [type(t).__name__ for t in test.dataset.dataset.transform.transforms]
    assert train_steps[0] == "RandomAffine" and "RandomAffine" not in test_steps
    assert train.dataset.dataset.transform.transforms[0].degrees == [-10.0, 10.0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fast_path_runs_on_the_gpu(monkeypatch):
    from utils import train
    from utils.models import FinalNet

    monkeypatch.setenv("WORKBOOK_SMOKE", "1")
    augment = Augment(degrees=10, translate=0.1, scale=0.1, shear=5, cutout=6, noise=0.1)
    train_loader, test_loader = data.fast_loaders(augment=augment, device="cuda")
    x, y = next(iter(train_loader))
    assert x.is_cuda and y.is_cuda
    model = FinalNet().cuda()
    optimizer = train.make_optimizer("sgd", model.parameters(), 0.01)
    loss, acc = train.train_one_epoch(model, train_loader, optimizer, progress=False)
    assert loss > 0 and train.evaluate(model, test_loader)[1] > 0


def test_elastic_distortion_is_smooth_of_the_asked_size_and_changes_nothing_when_off():
    g = torch.Generator().manual_seed(0)
    d = data.elastic_displacement(64, 28, 28, alpha=34, sigma=4, generator=g) * 14  # in pixels
    assert d.shape == (64, 28, 28, 2)
    assert 0.5 < d.abs().mean() < 2 and d.abs().max() < 10  # a pixel or so, a few at most
    # smooth: neighbouring pixels move almost together, unlike the noise it was made from
    assert (d[:, 1:] - d[:, :-1]).abs().mean() < 0.2 * d.abs().mean()
    x = torch.rand(8, 1, 28, 28)
    plain = data.random_affine(x, 10, 0.1, 0.1, 0, torch.Generator().manual_seed(1))
    off = data.random_affine(x, 10, 0.1, 0.1, 0, torch.Generator().manual_seed(1), elastic=0.0)
    assert torch.equal(plain, off)  # the same draws: runs without it are unchanged
    on = data.Augment(elastic=34).batch(x, torch.Generator().manual_seed(1))
    assert on.shape == x.shape and not torch.equal(on, x)
    assert "elastic=34" in repr(data.Augment(elastic=34)) and "elastic" not in repr(data.Augment())


def test_the_command_line_takes_an_elastic_distortion_and_refuses_a_zero_smoothness():
    from utils.train import parse_args
    args = parse_args(["--elastic", "34"])
    assert args.elastic == 34 and args.elastic_sigma == 4
    with pytest.raises(SystemExit):
        parse_args(["--elastic", "34", "--elastic-sigma", "0"])

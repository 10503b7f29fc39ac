"""MNIST for the workbook: where it lives, how it is checked, split, augmented and batched.

Two ways to feed a model:

* `torchvision_loaders`: the classic pipeline of PIL images, torchvision transforms and a
  `DataLoader` with worker processes. It is what most tutorials use, and we keep it for
  teaching and for the benchmark.
* `TensorLoader`: the fast path. The whole dataset (47 MB as bytes) sits once on the device,
  batches are sliced from a `randperm`, and each batch is augmented on that device with one
  `affine_grid`/`grid_sample` call, every image with its own random parameters. No worker
  processes and no PIL, so the GPU (or the CPU) never waits for data.
"""
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from torchvision import datasets
from torchvision.transforms import v2

REPO_ROOT = Path(__file__).resolve().parent.parent

# Computed from the 60,000 training images by `mean_std` (tests/test_data.py checks them).
MEAN, STD = 0.1307, 0.3081

# name -> (size in bytes, IDX magic number, item count) of the four uncompressed files.
RAW_FILES = {
    "train-images-idx3-ubyte": (47_040_016, 2051, 60_000),
    "train-labels-idx1-ubyte": (60_008, 2049, 60_000),
    "t10k-images-idx3-ubyte": (7_840_016, 2051, 10_000),
    "t10k-labels-idx1-ubyte": (10_008, 2049, 10_000),
}

SMOKE_TRAIN, SMOKE_TEST = 4096, 2048
EVAL_BATCH_SIZE = 1000  # no gradients to keep, so evaluation takes large batches


class DataError(RuntimeError):
    """MNIST is missing, unreachable or damaged; the message says what to do."""


def smoke_mode():
    """True when WORKBOOK_SMOKE=1: a few thousand images and one epoch, for CI only."""
    return os.environ.get("WORKBOOK_SMOKE", "") == "1"


def smoke_banner():
    if smoke_mode():
        print(f"WORKBOOK_SMOKE=1: smoke mode, {SMOKE_TRAIN} train / {SMOKE_TEST} test images "
              "and 1 epoch. The numbers below are a check that the code runs, not results.")


def data_root(root=None):
    """The folder that holds MNIST/raw/: `root`, else $MNIST_ROOT, else data/ in the repo."""
    return Path(root or os.environ.get("MNIST_ROOT") or REPO_ROOT / "data")


def check_raw_files(root):
    """Raise DataError if any of the raw files present is truncated or not an MNIST file.

    torchvision would otherwise read a half-downloaded file and fail with a cryptic
    reshape error, or worse, train on garbage.
    """
    raw = Path(root) / "MNIST" / "raw"
    for name, (size, magic, count) in RAW_FILES.items():
        path = raw / name
        if not path.exists():
            continue
        with open(path, "rb") as f:
            header = f.read(8)
        actual = path.stat().st_size
        header_ok = (len(header) == 8 and int.from_bytes(header[:4], "big") == magic
                     and int.from_bytes(header[4:], "big") == count)
        if actual != size or not header_ok:
            raise DataError(
                f"{path} is damaged: {actual:,} bytes (expected {size:,}), "
                f"header {'ok' if header_ok else 'wrong'}. Delete it so that it is downloaded "
                "again, or copy a good one there (check it with the MD5 sums in "
                "torchvision.datasets.MNIST.resources).")


def mnist(train, root=None, transform=None):
    """torchvision's MNIST dataset, downloading it only if its files are missing."""
    root = data_root(root)
    check_raw_files(root)
    try:
        return datasets.MNIST(root, train=train, transform=transform, download=True)
    except Exception as error:  # torchvision raises RuntimeError, URLError, OSError...
        if all((root / "MNIST" / "raw" / name).exists() for name in RAW_FILES):
            raise DataError(f"could not read MNIST from {root.resolve()}/MNIST/raw/: "
                            f"{type(error).__name__}: {error}") from error
        raise DataError(
            f"MNIST is not in {root.resolve()}/MNIST/raw/ and could not be downloaded "
            f"({type(error).__name__}: {error}).\nExpected files: {', '.join(RAW_FILES)}.\n"
            "Copy them there, or point MNIST_ROOT (or the data argument) at the folder that "
            "holds MNIST/raw/, e.g. MNIST_ROOT=/path/to/data for /path/to/data/MNIST/raw/.") from error


def load_tensors(train, root=None):
    """All images of a split as uint8 (N, 1, 28, 28) and labels as int64 (N,)."""
    ds = mnist(train, root)
    return ds.data.unsqueeze(1).clone(), ds.targets.clone()


def mean_std(root=None):
    """Mean and std of the training pixels scaled to [0, 1]: where MEAN and STD come from.
    Summed in float64, so that no digit shown depends on the CPU's order of summation."""
    x = load_tensors(True, root)[0].double() / 255
    return x.mean().item(), x.std().item()


def train_val_indices(n=60_000, n_val=10_000, seed=0):
    """A seeded split of the training set: (train indices, validation indices)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def check_protocol(protocol):
    if protocol not in ("test", "val"):
        raise ValueError(f"protocol must be 'test' or 'val', not {protocol!r}")


def splits(protocol="test", root=None, seed=0):
    """The (train, eval) tensors of a protocol, each a pair (uint8 images, labels).

    "test": the 60k training images, evaluated on the 10k test images.
    "val":  50k of the training images, evaluated on the other 10k (a seeded split),
            so that choices are made without looking at the test set.
    In smoke mode both parts are cut to a few thousand images.
    """
    check_protocol(protocol)
    x, y = load_tensors(True, root)
    if protocol == "test":
        train, held_out = (x, y), load_tensors(False, root)
    else:
        tr, va = train_val_indices(len(y), seed=seed)
        train, held_out = (x[tr], y[tr]), (x[va], y[va])
    if smoke_mode():
        train = train[0][:SMOKE_TRAIN], train[1][:SMOKE_TRAIN]
        held_out = held_out[0][:SMOKE_TEST], held_out[1][:SMOKE_TEST]
    return train, held_out


# --- augmentation on a batch of tensors (the fast path) ------------------------------------

def affine(x, angle, translate, scale, shear, displacement=None):
    """Warp each image of x (B, C, H, W) by its own affine transform, like torchvision's.

    angle and shear are in degrees (B,), translate is (B, 2) as fractions of the image size,
    scale is (B,). A positive angle turns the digit counter-clockwise, as
    `torchvision.transforms.functional.rotate` does; shear and scale follow
    `torchvision.transforms.functional.affine`. Pixels from outside the image are 0, so
    x must not be normalized yet: 0 is the background. `displacement` (B, H, W, 2), in the
    grid's normalized units, is added to where each output pixel reads (an elastic
    distortion), so that both warps cost one resampling.
    """
    a, s = torch.deg2rad(angle), torch.deg2rad(shear)
    # Forward map in normalized coordinates (x right, y down): translate . rotate . shear . scale
    # with rotate = [[cos, sin], [-sin, cos]] and shear = [[1, -tan], [0, 1]].
    cos, sin, tan = torch.cos(a), torch.sin(a), torch.tan(s)
    fwd = torch.zeros(len(x), 3, 3, device=x.device)
    fwd[:, 0, 0], fwd[:, 0, 1] = cos * scale, (sin - cos * tan) * scale
    fwd[:, 1, 0], fwd[:, 1, 1] = -sin * scale, (cos + sin * tan) * scale
    fwd[:, :2, 2] = 2 * translate
    fwd[:, 2, 2] = 1
    # affine_grid wants, for every output pixel, where to read in the input: the inverse map.
    theta = torch.linalg.inv_ex(fwd).inverse[:, :2]  # inv_ex: no error check, so no GPU sync
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if displacement is not None:
        grid = grid + displacement
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def elastic_displacement(b, h, w, alpha, sigma, device="cpu", generator=None):
    """Random smooth displacement fields (B, H, W, 2) in grid units, as Simard, Steinkraus and
    Platt (2003) drew them: uniform noise in [-1, 1] per pixel and axis, blurred by a
    Gaussian of `sigma` pixels, scaled to `alpha` pixels (torchvision's ElasticTransform
    draws the same way)."""
    noise = torch.rand(b, 2, h, w, device=device, generator=generator) * 2 - 1
    radius = int(4 * sigma + 0.5)
    taps = torch.arange(-radius, radius + 1, device=device, dtype=noise.dtype)
    kernel = torch.exp(-taps ** 2 / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    smooth = F.conv2d(noise.reshape(2 * b, 1, h, w), kernel.view(1, 1, 1, -1), padding=(0, radius))
    smooth = F.conv2d(smooth, kernel.view(1, 1, -1, 1), padding=(radius, 0)).view(b, 2, h, w)
    per_pixel = torch.tensor([2 / w, 2 / h], device=device).view(1, 2, 1, 1)  # pixels -> grid
    return (alpha * smooth * per_pixel).permute(0, 2, 3, 1)


def random_affine(x, degrees=0.0, translate=0.0, scale=0.0, shear=0.0, generator=None,
                  elastic=0.0, elastic_sigma=4.0):
    """Random rotation in [-degrees, degrees], shift up to `translate` of the size on each
    axis, zoom in [1 - scale, 1 + scale] and shear in [-shear, shear], one draw per image;
    with `elastic` > 0, an elastic distortion of that strength (`elastic_displacement`)."""
    b, dev = len(x), x.device

    def uniform(low, high, *shape):
        return low + (high - low) * torch.rand(b, *shape, device=dev, generator=generator)

    angle, shift = uniform(-degrees, degrees), uniform(-translate, translate, 2)
    zoom, slant = uniform(1 - scale, 1 + scale), uniform(-shear, shear)
    displacement = None
    if elastic:
        displacement = elastic_displacement(b, *x.shape[-2:], elastic, elastic_sigma, dev, generator)
    return affine(x, angle, shift, zoom, slant, displacement)


def cutout(x, size, generator=None):
    """Set one random size x size square of each image to 0 (background); it may overhang."""
    b, _, h, w = x.shape
    top = torch.randint(-size // 2, h - size // 2, (b, 1, 1), device=x.device, generator=generator)
    left = torch.randint(-size // 2, w - size // 2, (b, 1, 1), device=x.device, generator=generator)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)
    return x.masked_fill(hole.unsqueeze(1), 0.0)


class Augment:
    """The workbook's augmentation with its strengths, for both pipelines.

    `batch(x)` applies it to a float batch in [0, 1] on any device (fast path);
    `pil()` gives the same augmentation as torchvision transforms (classic path), up to
    rounding: RandomAffine shifts by whole pixels, and RandomErasing keeps the cutout
    inside the image where the fast path lets it hang over the edge.
    """

    def __init__(self, degrees=0.0, translate=0.0, scale=0.0, shear=0.0, cutout=0, noise=0.0,
                 elastic=0.0, elastic_sigma=4.0):
        self.degrees, self.translate, self.scale, self.shear = degrees, translate, scale, shear
        self.cutout, self.noise = cutout, noise
        self.elastic, self.elastic_sigma = elastic, elastic_sigma

    def __repr__(self):
        elastic = f", elastic={self.elastic}, elastic_sigma={self.elastic_sigma}" if self.elastic else ""
        return (f"Augment(degrees={self.degrees}, translate={self.translate}, scale={self.scale}, "
                f"shear={self.shear}, cutout={self.cutout}, noise={self.noise}{elastic})")

    def batch(self, x, generator=None):
        if self.degrees or self.translate or self.scale or self.shear or self.elastic:
            x = random_affine(x, self.degrees, self.translate, self.scale, self.shear, generator,
                              self.elastic, self.elastic_sigma)
        if self.cutout:
            x = cutout(x, self.cutout, generator)
        if self.noise:
            x = (x + self.noise * torch.randn(x.shape, device=x.device, generator=generator)).clamp(0, 1)
        return x

    def pil(self):
        steps = []
        if self.elastic:
            steps.append(v2.ElasticTransform(alpha=float(self.elastic), sigma=float(self.elastic_sigma)))
        if self.degrees or self.translate or self.scale or self.shear:
            steps.append(v2.RandomAffine(self.degrees, translate=(self.translate, self.translate),
                                         scale=(1 - self.scale, 1 + self.scale),
                                         shear=self.shear or None,
                                         interpolation=v2.InterpolationMode.BILINEAR))
        steps += [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
        if self.cutout:
            area = self.cutout ** 2 / 28 ** 2
            steps.append(v2.RandomErasing(p=1.0, scale=(area, area), ratio=(1.0, 1.0), value=0))
        if self.noise:
            steps += [v2.GaussianNoise(sigma=self.noise, clip=True)]
        return v2.Compose(steps + [v2.Normalize((MEAN,), (STD,))])


NO_AUGMENT = Augment()


class TensorLoader:
    """Batches of (normalized images, labels) sliced from tensors held on `device`.

    Used like a DataLoader: `for x, y in loader`. With `shuffle` every epoch draws a new
    `randperm`; with `augment` every batch is warped on the device. The last partial batch
    is kept, as DataLoader does by default.
    """

    def __init__(self, images, labels, batch_size=128, shuffle=False, augment=NO_AUGMENT,
                 device="cpu", seed=None):
        self.images = images.to(device)  # uint8: 4x smaller than float, converted per batch
        self.labels = labels.to(device)
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.device = torch.device(device)
        self.generator = None
        if seed is not None:
            self.generator = torch.Generator(device=self.device).manual_seed(seed)

    def __len__(self):
        return (len(self.labels) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        n = len(self.labels)
        if self.shuffle:
            order = torch.randperm(n, device=self.device, generator=self.generator)
        else:
            order = torch.arange(n, device=self.device)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            x = self.images[idx].float().div_(255)
            x = self.augment.batch(x, self.generator)
            yield (x - MEAN) / STD, self.labels[idx]


def fast_loaders(protocol="test", augment=NO_AUGMENT, batch_size=128, device="cpu", root=None,
                 seed=0):
    """(train, eval) TensorLoaders of a protocol, the whole data held on `device`."""
    smoke_banner()
    (xtr, ytr), (xev, yev) = splits(protocol, root, seed)
    train = TensorLoader(xtr, ytr, batch_size, shuffle=True, augment=augment, device=device,
                         seed=seed)
    held_out = TensorLoader(xev, yev, EVAL_BATCH_SIZE, device=device)
    return train, held_out


def torchvision_loaders(protocol="test", augment=NO_AUGMENT, batch_size=128, root=None, seed=0,
                        num_workers=2):
    """(train, eval) DataLoaders of PIL images through torchvision transforms: the classic path."""
    check_protocol(protocol)
    smoke_banner()
    train_set = mnist(True, root, transform=augment.pil())
    plain = NO_AUGMENT.pil()
    if protocol == "test":
        eval_set = mnist(False, root, transform=plain)
    else:
        tr, va = train_val_indices(len(train_set), seed=seed)
        eval_set = Subset(mnist(True, root, transform=plain), va.tolist())
        train_set = Subset(train_set, tr.tolist())
    if smoke_mode():
        train_set = Subset(train_set, range(SMOKE_TRAIN))
        eval_set = Subset(eval_set, range(SMOKE_TEST))
    kwargs = dict(num_workers=num_workers, persistent_workers=num_workers > 0,
                  pin_memory=torch.cuda.is_available())
    train = DataLoader(train_set, batch_size, shuffle=True,
                       generator=torch.Generator().manual_seed(seed), **kwargs)
    return train, DataLoader(eval_set, EVAL_BATCH_SIZE, **kwargs)

"""Benchmark: the classic torchvision pipeline against the workbook's fast path.

    python -m utils.bench [--steps 150] [--batch-size 128] [--workers 2] [--out FILE.json]

Trains the final model for the same number of steps, in one run on one machine, fed by
(a) PIL images through torchvision transforms and a DataLoader with worker processes, as
most MNIST tutorials do, and (b) the fast path: tensors on the device, augmented a batch at
a time. Same model, batch size and augmentation. Each pipeline is timed twice: with float32
arithmetic, as such tutorials train, and with bf16 autocast and channels_last (the command
line's --bf16). With --compile, the fast path in bf16 is timed a third time, compiled by
torch.compile (the command line's --compile), and the seconds its warm-up took, compilation
included, are reported. Prints images per second for each, the pipeline alone (no training)
too, and the ratios to (a) in float32. A benchmark, not a test.
"""
import argparse
import contextlib
import json
import os
import platform
import sys
import time
from itertools import islice

import torch
import torch.nn as nn

from utils import data, train
from utils.models import FinalNet
from utils.report import save_json
from utils.train import non_negative_int, positive_int

AUGMENT = data.Augment(degrees=10, translate=0.1, scale=0.1)  # the final recipe's
PIPELINES = {
    "classic": "(a) PIL + torchvision + DataLoader, float32",
    "fast": "(b) fast path, float32",
    "classic_bf16": "(c) PIL + torchvision + DataLoader, bf16 + channels_last",
    "fast_bf16": "(d) fast path, bf16 + channels_last",
}
COMPILED = {"fast_compiled": "(e) fast path, bf16 + channels_last + torch.compile"}
RATIOS = {"ratio": "fast", "ratio_bf16": "fast_bf16", "ratio_compiled": "fast_compiled"}  # to (a)


# CPU features that decide whether bf16 pays: AMX computes bf16 matrix products in
# hardware, AVX-512 bf16 converts and multiplies bf16 pairs; without either it is emulated.
BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_model(cpuinfo="/proc/cpuinfo"):
    """(the CPU's model name, which of BF16_FLAGS it has), from /proc/cpuinfo on Linux."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in open(cpuinfo):
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    return name, [flag for flag in BF16_FLAGS if flag in flags]


def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name, flags = cpu_model()
    return (f"{name} ({', '.join(flags) if flags else 'no bf16 hardware'}), "
            f"{os.cpu_count()} cores, {torch.get_num_threads()} torch threads")


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence what C++ code writes straight to the process's stderr while the block runs:
    PyTorch's profiler logs each start and stop there, and on a machine without a GPU an
    "ERROR" line about it, none of which says anything about the measurement. A Python
    redirect cannot reach such writes, so file descriptor 2 points at /dev/null meanwhile."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_second(batches, steps, batch_size, device, step=None):
    """Time `steps` batches from the iterator `batches`, training on each if `step` is given."""
    sync(device)
    start = time.perf_counter()
    if step is None:
        for x, y in islice(batches, steps):
            x.to(device, non_blocking=True)
    else:
        step(islice(batches, steps))
    sync(device)
    return steps * batch_size / (time.perf_counter() - start)


def with_plain_dropout(model):
    """The model with nn.Dropout (a random number per pixel) in place of Dropout2d."""
    for block in list(model.modules()):
        for name, child in block.named_children():
            if isinstance(child, nn.Dropout2d):
                setattr(block, name, nn.Dropout(child.p))
    return model


def measure(loader, steps, warmup, device, change_model=None, channels_last=False,
            compile=False, bf16=False, fused=None):
    """(training, pipeline alone) throughput of `loader`, after a warm-up. `bf16` trains
    with channels-last weights too, as the command line's --bf16 does."""
    train.seed_everything(0)
    model = FinalNet()
    if change_model:
        model = change_model(model)
    model = model.to(device)
    optimizer = train.make_optimizer("sgd", model.parameters(), 0.01, fused=fused)
    if channels_last or bf16:
        # Only the weights need it: a one-channel batch is already channels-last in memory.
        model = model.to(memory_format=torch.channels_last)
    if compile:
        model = torch.compile(model)

    def step(batches):
        train.train_one_epoch(model, batches, optimizer, progress=False, bf16=bf16)

    batch_size = loader.batch_size
    batches = iter(loader)
    start = time.perf_counter()
    step(islice(batches, warmup))  # worker start-up, allocator and kernel caches, compilation
    sync(device)
    warmup_seconds = time.perf_counter() - start
    training = images_per_second(batches, steps, batch_size, device, step)
    pipeline = images_per_second(batches, steps, batch_size, device)
    return dict(train_images_per_s=round(training), pipeline_images_per_s=round(pipeline),
                warmup_seconds=round(warmup_seconds, 1))


def without_head_dropout(model):
    """The final model as it was before v2: Dropout2d only, no nn.Dropout before the head."""
    return FinalNet(head_dropout=0.0)


def measure_variants(args, device, fast_loader):
    """Training throughput of the fast path (`fast_loader`, at --batch-size) with one thing
    changed at a time."""
    variants = {
        "as committed": {},
        "nn.Dropout instead of Dropout2d": dict(change_model=with_plain_dropout),
        "no nn.Dropout before the head": dict(change_model=without_head_dropout),
        "channels_last memory format": dict(channels_last=True),
        "fused SGD": dict(fused=True),
    }
    results = {}
    for batch_size in (args.batch_size, 4 * args.batch_size):
        loader = fast_loader
        if batch_size != args.batch_size:
            loader, _ = data.fast_loaders(augment=AUGMENT, batch_size=batch_size, device=device,
                                          root=args.data)
        steps = max(1, args.steps * args.batch_size // batch_size)
        warmup = max(1, args.warmup * args.batch_size // batch_size)
        for name, options in variants.items():
            if batch_size != args.batch_size and name != "as committed":
                continue
            label = name if batch_size == args.batch_size else f"batch {batch_size}"
            results[label] = measure(loader, steps, warmup, device, **options)["train_images_per_s"]
            print(f"    {label:<34} {results[label]:>7,} img/s training", flush=True)
    return results


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m utils.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=positive_int, default=150, help="timed batches per measure")
    p.add_argument("--warmup", type=positive_int, default=20)
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--workers", type=non_negative_int, default=2,
                   help="DataLoader workers of the classic path")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    p.add_argument("--data", default=None, help="folder holding MNIST/raw/")
    p.add_argument("--out", default=None, help="also write the results to this JSON file")
    p.add_argument("--variants", action="store_true",
                   help="also time the fast path with one change at a time (dropout kind, "
                        "memory format, fused optimizer, batch size)")
    p.add_argument("--compile", action="store_true",
                   help="also time the fast path in bf16 compiled by torch.compile (needs a C++ "
                        "compiler on the CPU; compiling takes half a minute or so)")
    args = p.parse_args(argv)
    if data.smoke_mode():
        p.error("a benchmark needs the full data: unset WORKBOOK_SMOKE")
    needed = args.warmup + 2 * args.steps
    if needed * args.batch_size > 60_000:
        p.error(f"warmup + 2 x steps = {needed} batches of {args.batch_size} do not fit in one "
                "pass over the 60,000 training images")

    try:
        device = train.pick_device(args.device)
    except ValueError as error:
        p.error(str(error))
    print(f"device: {device_name(device)}; final model, batch {args.batch_size}, {AUGMENT}")
    pipelines = dict(PIPELINES, **(COMPILED if args.compile else {}))
    result = dict(device=device_name(device), device_type=device.type, torch=torch.__version__,
                  batch_size=args.batch_size, steps=args.steps, warmup=args.warmup,
                  workers=args.workers, augment=repr(AUGMENT), pipelines=pipelines)
    fast_loader, _ = data.fast_loaders(augment=AUGMENT, batch_size=args.batch_size,
                                       device=device, root=args.data)
    for bf16 in (False, True):
        suffix = "_bf16" if bf16 else ""
        classic_loader, _ = data.torchvision_loaders(augment=AUGMENT, batch_size=args.batch_size,
                                                     root=args.data, num_workers=args.workers)
        result["classic" + suffix] = measure(classic_loader, args.steps, args.warmup, device,
                                             bf16=bf16)
        del classic_loader  # stop its worker processes before timing the fast path
        result["fast" + suffix] = measure(fast_loader, args.steps, args.warmup, device, bf16=bf16)
    if args.compile:
        result["fast_compiled"] = measure(fast_loader, args.steps, args.warmup, device, bf16=True,
                                          compile=True)
    base = result["classic"]["train_images_per_s"]
    for ratio, key in RATIOS.items():
        if key in result:
            result[ratio] = round(result[key]["train_images_per_s"] / base, 2)
    for key, name in pipelines.items():
        r = result[key]
        print(f"{name:<58} {r['train_images_per_s']:>7,} img/s training "
              f"({r['train_images_per_s'] / base:.2f}x), "
              f"{r['pipeline_images_per_s']:>7,} img/s pipeline alone, "
              f"warm-up {r['warmup_seconds']:.1f} s")
    print(f"ratio b / a, training, both float32: {result['ratio']:.2f}x")
    print(f"ratio d / a, training, fast path in bf16 against the classic one in float32: "
          f"{result['ratio_bf16']:.2f}x")
    if args.compile:
        print(f"ratio e / a, the same compiled by torch.compile, once compiled: "
              f"{result['ratio_compiled']:.2f}x (warm-up and compilation: "
              f"{result['fast_compiled']['warmup_seconds']:.1f} s)")
    if args.variants:
        print("fast path variants:")
        result["variants"] = measure_variants(args, device, fast_loader)
    if args.out:
        save_json(result, args.out)
    return result


if __name__ == "__main__":
    main()

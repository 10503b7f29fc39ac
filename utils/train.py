"""Training: seeding, device, the train and test loops, `fit`, checkpoints, the command line.

    python -m utils.train --model final --epochs 15 --seed 0 --out runs/final

trains a model of `utils.models` and writes metrics.json, weights.pt and curves.png to --out.
The defaults are the final recipe of the workbook (notebook 11).
"""
import argparse
import inspect
import math
import os
import random
import signal
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torchsummary import summary
from tqdm.auto import tqdm

from utils import data
from utils.models import MODELS, build_model, count_parameters, kaiming_init
from utils.report import ASSETS, FINAL_STEP, atomic_write, load_asset, publishing, save_json


# --- setup ---------------------------------------------------------------------------------

def seed_everything(seed):
    """Seed Python and torch (CPU and CUDA): on the CPU the same seed gives the same run."""
    random.seed(seed)
    torch.manual_seed(seed)


def show_summary(model, input_size=(1, 28, 28)):
    """torchsummary's table of layers, output shapes and parameters, drawn so that it changes
    nothing. torchsummary pushes two random images through the model: in train mode they would
    update BatchNorm's running statistics, and their random numbers would shift every Dropout
    mask the training draws after them. So it runs in eval mode, with the random state put back
    after it, and a notebook's run stays equal to `python -m utils.train` with the same seed."""
    device = next(model.parameters()).device
    was_training = model.training
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        summary(model.eval(), input_size, device=device.type)
    model.train(was_training)


def hosted_notebook():
    """"Colab" or "Kaggle" when this runs there, else None."""
    if "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ:
        return "Colab"
    if "KAGGLE_KERNEL_RUN_TYPE" in os.environ:
        return "Kaggle"
    return None


GPU_MENUS = {"Colab": "Runtime > Change runtime type > T4 GPU (or any GPU), then run the "
                      "notebook again from the top",
             "Kaggle": "Settings (right panel) > Accelerator > GPU, then run the notebook again "
                       "from the top"}


def pick_device(name=None):
    """CUDA when present (or when asked for), else the CPU. In Colab or on Kaggle without a
    GPU it says so loudly and how to switch one on, then goes on with the CPU."""
    if name is None:
        name = "cuda" if torch.cuda.is_available() else "cpu"
        host = hosted_notebook()
        if name == "cpu" and host:
            print(f"WARNING: no GPU in this {host} runtime, so training would run on the CPU, "
                  "which is much slower (the time under each notebook's title says how much): "
                  "the notebooks load their committed runs instead, unless TRAIN = True.\n"
                  f"To switch one on: {GPU_MENUS[host]}.", file=sys.stderr)
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for, but torch sees no CUDA GPU here; "
                         "use the CPU (leave the device out to pick automatically)")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"device {name!r} was asked for, but torch sees "
                         f"{torch.cuda.device_count()} GPU(s) here, from cuda:0")
    return device


def make_optimizer(name, params, lr, momentum=0.9, nesterov=True, weight_decay=0.0, fused=None):
    """sgd (with momentum, Nesterov by default), adam or adamw. `fused` updates all the
    weights in one kernel (the benchmark times it; torch's default is the foreach one).
    `weight_decay` applies to every parameter in `params`, BatchNorm's own weights and biases
    included: the recipe of every committed run has it so, and leaving BatchNorm and bias
    parameters out of weight decay, though common practice, would be a change to measure."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0,
                               weight_decay=weight_decay, fused=fused)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused)
    raise ValueError(f"unknown optimizer {name!r}; known: sgd, adam, adamw")


def make_scheduler(name, optimizer, epochs, steps_per_epoch):
    """onecycle (stepped every batch), step (every epoch), plateau (every epoch) or none.

    OneCycleLR warms up from a tenth of the optimizer's lr to that lr, its peak, over the
    first 20% of the steps, then anneals to the peak / 1e4: a high peak for speed, a long
    low tail for a stable last epoch. The momentum stays what the optimizer was given
    (OneCycleLR would otherwise cycle it).
    """
    if name == "none":
        return None
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=optimizer.param_groups[0]["lr"], epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            pct_start=0.2, div_factor=10, final_div_factor=1000, cycle_momentum=False)
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.1, patience=2)
    raise ValueError(f"unknown schedule {name!r}; known: onecycle, step, plateau, none")


# --- the loops -----------------------------------------------------------------------------

class Diverged(RuntimeError):
    """The training loss became NaN or infinite: nothing learned from then on is usable."""


def diverged(loss, first, last, loader):
    """A `Diverged` that says in which batch (or, checked every few, which batches) it was."""
    where = f"batch {last}" if first == last else f"one of batches {first} to {last}"
    of = f" of {len(loader)}" if hasattr(loader, "__len__") else ""  # the benchmark's islice has none
    return Diverged(f"the training loss became {loss.item()} at {where}{of}")


def autocast(device, bf16):
    """With `bf16`, the convolutions run in bfloat16 while the weights, the BatchNorm
    statistics and the loss stay in float32. CPUs with AMX (recent Xeons, like the one the
    README's figures come from) and GPUs from Ampere on compute bf16 natively and much
    faster; elsewhere it is slower, so it is off unless asked for. On a GPU this small
    model gains nothing from it: its steps wait on kernel launches, not arithmetic."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def make_ema(model, decay=0.99):
    """An exponential moving average of `model`'s weights and BatchNorm statistics, updated
    after every optimizer step (`train_one_epoch(..., ema=...)`): evaluating the average
    instead of the last weights smooths out the noise of the last steps."""
    return torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(decay), use_buffers=True)


def train_one_epoch(model, loader, optimizer, batch_scheduler=None, clip=None,
                    label_smoothing=0.0, progress=True, desc="train", bf16=False, ema=None,
                    check_every=None):
    """One pass over `loader`; returns (mean loss, accuracy in %) over its samples.

    Raises `Diverged` as soon as the loss is NaN or infinite. By default every batch is
    checked on the CPU, every 50th on a GPU: reading the loss back every batch would stall it.
    """
    model.train()
    device = next(model.parameters()).device
    check_every = check_every or (1 if device.type == "cpu" else 50)
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    # disable=None: a bar in a notebook or on a terminal, none when the output goes to a file
    # or a pipe (a log would get a line per update); fit's line per epoch is printed anyway.
    batches = tqdm(loader, desc=desc, leave=False, disable=None if progress else True,
                   file=sys.stderr)
    for batch, (x, y) in enumerate(batches, start=1):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast(device, bf16):
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        if ema is not None:
            ema.update_parameters(model)
        if batch_scheduler is not None:
            batch_scheduler.step()
        # Sums stay on the device: calling .item() every batch would stall a GPU.
        total_loss += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
        if batch % check_every == 0 and not total_loss.isfinite():
            raise diverged(loss, batch - check_every + 1, batch, loader)
    if not seen:
        raise ValueError("the training loader yielded no batches")
    if not total_loss.isfinite():  # in the last batches, on a GPU
        raise diverged(loss, batch - batch % check_every + 1, batch, loader)
    return total_loss.item() / seen, 100.0 * correct.item() / seen


@torch.inference_mode()
def evaluate(model, loader, bf16=False):
    """(mean loss, accuracy in %) of `model` on `loader`, in eval mode."""
    # A model compiled by torch.compile is evaluated eagerly: compiling its eval-mode graph
    # too would take longer than the evaluations it would speed up.
    model = getattr(model, "_orig_mod", model)
    model.eval()
    device = next(model.parameters()).device
    total_loss, correct, seen = 0.0, 0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        with autocast(device, bf16):
            logits = model(x).float()
        total_loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        seen += len(y)
    if not seen:
        raise ValueError("the evaluation loader yielded no batches")
    return total_loss / seen, 100.0 * correct / seen


@torch.inference_mode()
def predict(model, loader):
    """(images, labels, predictions) for every sample of `loader`, on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    images, labels, preds = [], [], []
    for x, y in loader:
        images.append(x.cpu())
        labels.append(y.cpu())
        preds.append(model(x.to(device)).argmax(1).cpu())
    return torch.cat(images), torch.cat(labels), torch.cat(preds)


def misclassified(images, labels, preds, limit=30):
    """(images, true labels, predicted labels) of the first `limit` mistakes among the
    outputs of `predict`, which a confusion matrix can then use too."""
    wrong = (preds != labels).nonzero().flatten()[:limit]
    return images[wrong], labels[wrong], preds[wrong]


class History(list):
    """What `fit` returns: one dict per epoch, as a plain list would hold them, and
    `interrupted`, the epoch a Ctrl-C stopped (None when the run ended by itself).
    `checkpoint` is (epoch, a copy of the evaluated weights) after the last completed epoch,
    which the command line saves when a run is interrupted."""
    interrupted = None
    checkpoint = (0, None)


def weights_of(module):
    """A copy of the weights of `module`, unwrapped from the EMA or torch.compile that holds
    it, as `save_weights` saves them."""
    module = getattr(module, "module", module)
    module = getattr(module, "_orig_mod", module)
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def epoch_line(h, epochs):
    """The line `fit` prints for the epoch `h`, one dict of its history."""
    return (f"epoch {h['epoch']:2d}/{epochs}  train loss {h['train_loss']:.4f} acc {h['train_acc']:6.2f}%  "
            f"test loss {h['test_loss']:.4f} acc {h['test_acc']:6.2f}%  lr {h['lr']:.4f}  {h['seconds']:6.1f}s")


def fit(model, train_loader, test_loader, epochs, optimizer, scheduler=None, clip=None,
        label_smoothing=0.0, target=None, stop_at_target=False, progress=True, log=print,
        bf16=False, ema=None):
    """Train for `epochs`, evaluating after each; returns the history, one dict per epoch.
    A loss that becomes NaN or infinite stops the run at once with `Diverged`. A Ctrl-C
    (or the notebook's stop button) stops it too, but keeps what is done: the history of the
    epochs completed is returned, with a line saying so, and the model is left as it is.

    With `ema` (see `make_ema`), the average is updated every step and is what is evaluated.

    `seconds` is the wall time since the start, evaluation included. A ReduceLROnPlateau
    schedule watches the training loss: watching the test loss would tune on the test set.
    In smoke mode (WORKBOOK_SMOKE=1) only one epoch runs; when publishing, no progress bar.
    """
    if data.smoke_mode() and epochs > 1:
        log(f"WORKBOOK_SMOKE=1: training 1 epoch instead of {epochs}.")
        epochs = 1
    # A maintainer's run (WORKBOOK_PUBLISH=1) makes the committed outputs: no progress bar,
    # whose frozen widget would be saved with them. The line per epoch says it all.
    progress = progress and not publishing()
    per_batch = isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR)
    evaluated = model if ema is None else ema
    history, start = History(), time.perf_counter()
    for epoch in range(1, epochs + 1):
        try:  # the whole epoch, its bookkeeping included: a Ctrl-C may land anywhere in it
            lr = optimizer.param_groups[0]["lr"]
            train_loss, train_acc = train_one_epoch(
                model, train_loader, optimizer, scheduler if per_batch else None, clip,
                label_smoothing, progress, desc=f"epoch {epoch}/{epochs}", bf16=bf16, ema=ema)
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(train_loss)
            elif scheduler is not None and not per_batch:
                scheduler.step()
            test_loss, test_acc = evaluate(evaluated, test_loader, bf16)
            seconds = time.perf_counter() - start
            history.append(dict(epoch=epoch, train_loss=train_loss, train_acc=train_acc,
                                test_loss=test_loss, test_acc=test_acc, lr=lr, seconds=seconds))
            history.checkpoint = (epoch, weights_of(evaluated))
            log(epoch_line(history[-1], epochs))
            if stop_at_target and target is not None and test_acc >= target:
                log(f"reached {target}% at epoch {epoch}: stopping early.")
                break
        except Diverged as error:
            raise Diverged(f"epoch {epoch}: {error}. The weights are no longer usable. The "
                           f"learning rate (now {optimizer.param_groups[0]['lr']:.3g}) is "
                           "probably too high: lower it and train again.") from None
        except KeyboardInterrupt:
            if history and history.checkpoint[0] < len(history):  # stopped in between the two
                history.checkpoint = (len(history), weights_of(evaluated))
            history.interrupted = len(history) + 1
            log(f"interrupted in epoch {history.interrupted}: returning the history of the "
                f"{len(history)} epochs completed; the model keeps the weights it had when stopped.")
            break
    return history


def summarize(history, target=99.4):
    """Best and last accuracies, and when `target` % test accuracy was first reached."""
    best_test = max(history, key=lambda h: h["test_acc"])
    best_train = max(history, key=lambda h: h["train_acc"])
    first = next((h for h in history if h["test_acc"] >= target), None)
    return dict(
        epochs=len(history),
        best_train_acc=best_train["train_acc"], best_train_epoch=best_train["epoch"],
        best_test_acc=best_test["test_acc"], best_test_epoch=best_test["epoch"],
        last_test_acc=history[-1]["test_acc"],
        target=target,
        target_epoch=first["epoch"] if first else None,
        target_seconds=first["seconds"] if first else None,
        total_seconds=history[-1]["seconds"],
    )


# --- diagnosis: what a step's run says, and the learning rate to try ---------------------

def diagnose(model, train_loader, history, budget=20_000):
    """The measurements a step's Diagnosis reads, printed and returned: the training accuracy
    in eval mode (Dropout off, BatchNorm's running statistics, no augmentation: the model the
    test set sees) against the test accuracy, the test accuracy's spread over the last three
    epochs, and the parameters against the budget. The log's train accuracy is measured in
    train mode, on augmented batches while the weights still move: no fair comparison."""
    in_order = data.TensorLoader(train_loader.images, train_loader.labels,
                                 batch_size=data.EVAL_BATCH_SIZE, device=train_loader.device)
    _, train_acc = evaluate(model, in_order)
    test = [h["test_acc"] for h in history]
    params = count_parameters(model)
    found = dict(train_acc_eval=train_acc, test_acc=test[-1], gap=train_acc - test[-1],
                 last3_spread=max(test[-3:]) - min(test[-3:]), params=params,
                 over_budget=params >= budget)
    print(f"train accuracy, eval mode, final weights: {train_acc:.2f}%  |  test accuracy: "
          f"{test[-1]:.2f}%  |  gap (train - test): {found['gap']:+.2f} points\n"
          f"test accuracy over the last 3 epochs: {min(test[-3:]):.2f}% to {max(test[-3:]):.2f}% "
          f"(spread {found['last3_spread']:.2f})  |  {params:,} parameters, "
          f"{'over' if found['over_budget'] else 'under'} the {budget:,} budget")
    return found


@torch.inference_mode()
def largest_feature_share(model, loader):
    """How much of each prediction rests on one feature: for a model that ends in GAP and a
    1x1 classifier, each class score is a sum over the pooled features of weight x feature.
    For every image, the largest positive term of the predicted class's sum divided by all
    its positive terms; returned as the mean over `loader`, in % (100: one feature alone)."""
    model.eval()
    classifier = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    pooled = []
    hook = classifier.register_forward_hook(lambda module, inputs, output: pooled.append(inputs[0]))
    device = next(model.parameters()).device
    shares = []
    try:
        for x, _ in loader:
            pooled.clear()
            predicted = model(x.to(device)).argmax(1)
            terms = (pooled[0].flatten(1) * classifier.weight[predicted, :, 0, 0]).clamp(min=0)
            shares.append(terms.max(1).values / terms.sum(1).clamp(min=1e-12))
    finally:
        hook.remove()
    return 100.0 * torch.cat(shares).mean().item()


def accuracy_with_features_dropped(model, loader, p=0.1, draws=10, seed=0):
    """Accuracy (%) of `model` in eval mode when a random share `p` of the pooled features its
    last (1x1) convolution reads is zeroed in every image and the rest scaled by 1 / (1 - p),
    as a head Dropout does in training: the mean over `draws` draws of a generator seeded with
    `seed`, so that two models meet the same draws. It asks how much the predictions need
    every feature to be there."""
    model.eval()
    classifier = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    masks = []
    hook = classifier.register_forward_pre_hook(lambda module, inputs: (inputs[0] * masks[-1],))
    right = total = 0
    try:
        with torch.no_grad():
            for _ in range(draws):
                for x, y in loader:
                    shape = (len(x), classifier.in_channels, 1, 1)
                    kept = torch.rand(shape, generator=generator) >= p
                    masks.append((kept / (1 - p)).to(device))
                    right += (model(x.to(device)).argmax(1) == y.to(device)).sum().item()
                    total += len(y)
    finally:
        hook.remove()
    return 100.0 * right / total


def lr_range_test(model, loader, optimizer, start=1e-4, end=10.0, steps=250, smoothing=0.9):
    """The learning-rate range test (Smith, 2017; fastai's lr_find): train for `steps`
    batches with the rate grown exponentially from `start` to `end`, record the loss, and
    stop early once it is four times its lowest. Returns (rates, smoothed losses). The model
    and the optimizer are put back as they were: the test only looks. The default sweep goes
    to a rate of 10, well past where a BatchNorm model's loss turns up, so that its lowest
    point is a minimum of the curve and not merely the end of the sweep."""
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    saved_optimizer = optimizer.state_dict()
    factor = (end / start) ** (1 / max(1, steps - 1))
    rates, losses, average, best = [], [], 0.0, float("inf")
    model.train()
    device = next(model.parameters()).device
    batches = iter(loader)
    try:
        for step in range(steps):
            try:
                x, y = next(batches)
            except StopIteration:
                batches = iter(loader)
                x, y = next(batches)
            lr = start * factor ** step
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = F.cross_entropy(model(x.to(device)), y.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            average = smoothing * average + (1 - smoothing) * loss.item()
            smoothed = average / (1 - smoothing ** (step + 1))  # unbiased, as in Adam
            if not math.isfinite(smoothed):
                break
            rates.append(lr)
            losses.append(smoothed)
            best = min(best, smoothed)
            if smoothed > 4 * best:
                break
    finally:
        model.load_state_dict(saved)
        optimizer.load_state_dict(saved_optimizer)
    return rates, losses


def suggest_peak_lr(rates, losses):
    """A rule of thumb for a peak rate from a range test: a tenth of the rate at which the
    smoothed loss was lowest, safely below where the loss starts to blow up."""
    return rates[losses.index(min(losses))] / 10


# --- checkpoints ---------------------------------------------------------------------------

class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded into the model at hand."""


def save_weights(model, path, name=None, options=None):
    """Save the state dict with the model's name and the options it was built with
    (widths, width...), so a mismatch can be explained later."""
    state = {"model": name or type(model).__name__, "options": options or {},
             "state_dict": model.state_dict()}
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_weights(model, path):
    """Load weights saved by `save_weights` into `model`, refusing any that do not fit.

    `weights_only=True` loads tensors and plain containers only, never arbitrary code.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}: train one first with python -m utils.train")
    except Exception as error:
        raise CheckpointError(f"{path} is not a readable checkpoint ({error})") from error
    if not isinstance(state, dict) or "state_dict" not in state:
        raise CheckpointError(f"{path} was not written by utils.train.save_weights")
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as error:
        name, options = state.get("model"), state.get("options") or {}
        arguments = "".join(f", {k}={v!r}" for k, v in options.items())
        raise CheckpointError(
            f"{path} holds weights of model {name!r}{f' built with {options}' if options else ''}"
            f", which do not fit this {type(model).__name__}: load it into "
            f"models.build_model({name!r}{arguments}) instead.\n{error}"
        ) from None
    return model


def train_switch():
    """The default of a notebook's TRAIN switch: WORKBOOK_TRAIN when it is set (0 loads the
    committed run, as the tests do; 1 trains); otherwise train, except in a Colab or Kaggle
    runtime without a GPU, where a step would take a lesson's worth of minutes on its CPU:
    there the committed run is loaded, loudly, with how to train anyway."""
    if "WORKBOOK_TRAIN" in os.environ:
        return os.environ["WORKBOOK_TRAIN"] != "0"
    host = hosted_notebook()
    if host and not torch.cuda.is_available():
        print(f"WARNING: no GPU in this {host} runtime, so TRAIN = False: this notebook loads "
              "its step's committed run instead of training it on the CPU, which takes many "
              f"minutes (the time under the title).\nTo switch a GPU on: {GPU_MENUS[host]}. To train on the CPU anyway: "
              "TRAIN = True in this cell.", file=sys.stderr)
        return False
    return True


def committed_weights(step):
    """Where notebook `step`'s committed weights live: next to its metrics in assets/, but for
    the final model's, which the README and notebook 12 know as final_weights.pt."""
    return ASSETS / ("final_weights.pt" if step == FINAL_STEP else f"metrics/{step}.pt")


def load_committed_run(step, model):
    """The notebook's TRAIN = False: load the committed weights of step `step`'s run into
    `model` and return that run's history, one dict per epoch as `fit` returns it. When they
    do not fit the model in the cell (it was edited), say so and return None, so that the
    notebook trains the model instead of failing."""
    path = committed_weights(step)
    if not path.exists():
        print(f"TRAIN = False, but step {step} has no committed weights ({path}): "
              "training it instead.")
        return None
    try:
        load_weights(model, path)
    except CheckpointError:
        print(f"TRAIN = False, but the committed weights of step {step} do not fit the model "
              "in the cell, which was changed: training it instead.")
        return None
    history = load_asset(f"metrics/{step}.json")["history"]
    last = history[-1]
    print(f"TRAIN = False: loaded the committed weights of step {step}'s run ({len(history)} "
          f"epochs, last test accuracy {last['test_acc']:.2f}%) and its history, instead of "
          "training. Set TRAIN = True to train it yourself. Its log, as it was printed:")
    for h in history:
        print(epoch_line(h, len(history)))
    return history


# --- the command line ----------------------------------------------------------------------

def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def finite(text):
    """A float that is a number: argparse's float() would take nan and inf."""
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text}")
    return value


def fraction(text):
    value = finite(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), not {value}")
    return value


def non_negative(text):
    value = finite(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def positive(text):
    value = finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {value}")
    return value


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m utils.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="final", choices=list(MODELS))
    p.add_argument("--init", choices=["default", "kaiming"], default="default",
                   help="the convolutions' initial weights: PyTorch's default, or Kaiming's "
                        "(variance 2 / fan_in, zero biases; notebook 04)")
    p.add_argument("--epochs", type=positive_int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/final"),
                   help="folder for metrics.json, weights.pt and curves.png")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run in --out")
    p.add_argument("--data", default=None,
                   help="folder holding MNIST/raw/ (default: $MNIST_ROOT, else data/)")
    p.add_argument("--protocol", choices=["test", "val"], default="test",
                   help="test: 60k train / 10k test; val: 50k train / 10k validation")
    p.add_argument("--pipeline", choices=["fast", "torchvision"], default="fast",
                   help="fast: tensors on the device; torchvision: PIL transforms + DataLoader")
    p.add_argument("--workers", type=non_negative_int, default=2,
                   help="DataLoader workers (torchvision)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default="sgd")
    p.add_argument("--lr", type=non_negative, default=0.05, help="peak lr for onecycle")
    p.add_argument("--momentum", type=fraction, default=0.9)
    p.add_argument("--weight-decay", type=non_negative, default=1e-4)
    p.add_argument("--schedule", choices=["onecycle", "step", "plateau", "none"],
                   default="onecycle")
    p.add_argument("--dropout", type=fraction, default=None,
                   help="dropout of the models that have it (default: the model's own)")
    p.add_argument("--head-dropout", type=fraction, default=None,
                   help="nn.Dropout on the pooled features, before the classifier (final)")
    p.add_argument("--pool-dropout", type=fraction, default=None,
                   help="nn.Dropout on the max-pooled maps (separable)")
    p.add_argument("--widths", type=positive_int, nargs=4, default=None, metavar="W",
                   help="the four widths of --model tiny (see ScaledFinalNet)")
    p.add_argument("--width", type=positive_int, default=None,
                   help="the width of --model separable (see SeparableNet)")
    p.add_argument("--pre-pool-convs", type=int, choices=[2, 3], default=None,
                   help="--model tiny: 3x3 convs before the pool (3, as FinalNet; 2 undoes one "
                        "of step 07's edits, for its ablation)")
    p.add_argument("--last-padding", type=int, choices=[0, 1], default=None,
                   help="--model tiny: the last 3x3 block's padding (1, as FinalNet; 0 undoes one "
                        "of step 07's edits, for its ablation)")
    p.add_argument("--label-smoothing", type=fraction, default=0.0)
    p.add_argument("--clip", type=non_negative, default=None, help="max gradient norm")
    p.add_argument("--degrees", type=non_negative, default=10.0, help="rotation, +-degrees")
    p.add_argument("--translate", type=fraction, default=0.1, help="shift, fraction of size")
    p.add_argument("--scale", type=fraction, default=0.1, help="zoom in [1-s, 1+s]")
    p.add_argument("--shear", type=non_negative, default=0.0, help="shear, +-degrees")
    p.add_argument("--elastic", type=non_negative, default=0.0,
                   help="elastic distortion, its displacement scale in pixels (Simard et al.: 34)")
    p.add_argument("--elastic-sigma", type=positive, default=4.0,
                   help="the smoothness of the elastic distortion, in pixels")
    p.add_argument("--cutout", type=non_negative_int, default=0,
                   help="side of a square cut out, pixels")
    p.add_argument("--target", type=finite, default=99.4, help="test accuracy to report, %%")
    p.add_argument("--stop-at-target", action="store_true")
    p.add_argument("--bf16", action="store_true",
                   help="bfloat16 autocast and channels_last: faster on CPUs with AMX, slower "
                        "on other CPUs, no faster on a GPU for this small model")
    p.add_argument("--ema", type=fraction, default=None, metavar="DECAY",
                   help="evaluate and save an exponential moving average of the weights, "
                        "e.g. 0.99 per step")
    p.add_argument("--compile", action="store_true",
                   help="train the model compiled by torch.compile: faster steps on the CPU "
                        "after half a minute or so of compiling, cached on disk for later runs "
                        "(needs a C++ compiler; no faster on a GPU for this small model)")
    p.add_argument("--no-progress", action="store_true", help="no per-batch progress bar")
    return p.parse_args(argv)


def recorded_args(args):
    """The command line's options as metrics.json records them (paths as text)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


def model_options(args):
    """--dropout, --widths, --width and the ablation's options for the models that take them;
    a clear error for the others."""
    options = {k: v for k, v in (("dropout", args.dropout), ("head_dropout", args.head_dropout),
                                 ("pool_dropout", args.pool_dropout),
                                 ("widths", args.widths), ("width", args.width),
                                 ("pre_pool_convs", args.pre_pool_convs),
                                 ("last_padding", args.last_padding)) if v is not None}
    accepted = inspect.signature(MODELS[args.model]).parameters
    refused = [k for k in options if k not in accepted]
    if refused:
        sys.exit(f"error: --model {args.model} takes no --{refused[0].replace('_', '-')}; models that do: "
                 + ", ".join(n for n, m in MODELS.items() if refused[0] in inspect.signature(m).parameters))
    return options


def main(argv=None):
    args = parse_args(argv)
    options = model_options(args)
    out = args.out
    existing = [out / f for f in ("metrics.json", "weights.pt") if (out / f).exists()]
    if existing and not args.overwrite:
        sys.exit(f"error: {out} already holds a run ({', '.join(p.name for p in existing)}); "
                 "pass --overwrite to replace it, or choose another --out")

    try:
        device = pick_device(args.device)
    except ValueError as error:
        sys.exit(f"error: {error}")
    seed_everything(args.seed)
    augment = data.Augment(args.degrees, args.translate, args.scale, args.shear, args.cutout,
                           elastic=args.elastic, elastic_sigma=args.elastic_sigma)
    try:
        if args.pipeline == "fast":
            train_loader, test_loader = data.fast_loaders(
                args.protocol, augment, args.batch_size, device, args.data, args.seed)
        else:
            train_loader, test_loader = data.torchvision_loaders(
                args.protocol, augment, args.batch_size, args.data, args.seed, args.workers)
    except data.DataError as error:
        sys.exit(f"error: {error}")
    try:  # before training, not after it: a run that cannot be saved is lost
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        sys.exit(f"error: cannot save the run in {out} ({error.strerror}); choose another --out")

    model = build_model(args.model, **options)
    if args.init == "kaiming":
        kaiming_init(model)
    model = model.to(device)
    if args.bf16:  # bf16 convolutions are fastest with channels-last weights (1.0x in fp32)
        model = model.to(memory_format=torch.channels_last)
    params = count_parameters(model)
    # On a GPU a step of this small model is bound by kernel launches, not arithmetic: the
    # fused optimizer updates every weight in one launch (README, "On a GPU").
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr, args.momentum,
                               weight_decay=args.weight_decay, fused=device.type == "cuda" or None)
    scheduler = make_scheduler(args.schedule, optimizer, args.epochs, len(train_loader))
    ema = make_ema(model, args.ema) if args.ema else None
    held_out = "validation" if args.protocol == "val" else "test"
    print(f"{args.model}: {params:,} parameters on {device}, {args.pipeline} pipeline, "
          f"{augment}, {args.optimizer} lr {args.lr} {args.schedule}, "
          f"{'bf16' if args.bf16 else 'fp32'}, {f'EMA {args.ema}, ' if ema else ''}"
          f"{'compiled, ' if args.compile else ''}"
          f"evaluated on the {held_out} set")

    # The compiled model shares its weights with `model`; the last partial batch of an epoch
    # is compiled once more for its own shape (dynamic=False keeps both graphs static).
    trained = torch.compile(model, dynamic=False) if args.compile else model
    try:
        history = fit(trained, train_loader, test_loader, args.epochs, optimizer, scheduler,
                      args.clip, args.label_smoothing, args.target, args.stop_at_target,
                      not args.no_progress, bf16=args.bf16, ema=ema)
    except Diverged as error:
        sys.exit(f"error: {error}\nNothing was saved in {out}; try a lower --lr than {args.lr}.")
    if history.interrupted and not history:
        print(f"\ninterrupted in epoch 1, before any epoch was completed: nothing was saved "
              f"in {out}.", file=sys.stderr)
        sys.exit(130)
    # A second Ctrl-C must not cut the saving short and leave half-written files behind.
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        metrics = save_run(args, out, model, ema, params, device, history)
    finally:
        signal.signal(signal.SIGINT, before)
    s = metrics["summary"]
    if history.interrupted:
        print(f"\ninterrupted in epoch {history.interrupted}: wrote the {len(history)} epochs "
              f"completed (of {args.epochs}) to {out}/metrics.json (marked interrupted), "
              f"weights.pt (those of epoch {len(history)}) and curves.png. Train again "
              "with --overwrite to replace them.", file=sys.stderr)
        sys.exit(130)
    reached = (f"first reached {s['target']}% at epoch {s['target_epoch']} after "
               f"{s['target_seconds']:.1f}s" if s["target_epoch"] else
               f"never reached {s['target']}%")
    print(f"\n{args.model}: {params:,} parameters | best {held_out} acc {s['best_test_acc']:.2f}% "
          f"(epoch {s['best_test_epoch']}) | last {s['last_test_acc']:.2f}% | {reached} | "
          f"total {s['total_seconds']:.1f}s\nwrote {out}/metrics.json, weights.pt, curves.png")
    return metrics


def save_run(args, out, model, ema, params, device, history):
    """metrics.json, weights.pt and curves.png of a run. An interrupted run keeps the weights
    of its last completed epoch, and its metrics say it was interrupted, and when."""
    saved = model if ema is None else ema.module
    if history.interrupted:
        saved.load_state_dict(history.checkpoint[1])
    summary = summarize(history, args.target)
    metrics = dict(model=args.model, params=params, device=str(device),
                   evaluated_on="validation" if args.protocol == "val" else "test",
                   smoke=data.smoke_mode(), args=recorded_args(args), architecture=str(model),
                   summary=summary, history=history)
    if history.interrupted:
        metrics["interrupted"] = dict(in_epoch=history.interrupted,
                                      epochs_completed=len(history), epochs_asked=args.epochs)
    save_weights(saved, out / "weights.pt", args.model, model_options(args))
    save_json(metrics, out / "metrics.json")
    from utils.plot import curves  # matplotlib only once there is something to draw
    curves(history, target=args.target, save=out / "curves.png", held_out=metrics["evaluated_on"])
    return metrics


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # while the data was loading, before training began
        print("\ninterrupted before training began: nothing was saved.", file=sys.stderr)
        sys.exit(130)

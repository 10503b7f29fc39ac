import json
import shutil

import pytest
import torch

from utils import data, train
from utils.models import MODELS, build_model, count_parameters


def tiny_loaders(seed=0, n=512):
    (x, y), (xt, yt) = data.splits("test")
    train_loader = data.TensorLoader(x[:n], y[:n], 64, shuffle=True,
                                     augment=data.Augment(degrees=10), seed=seed)
    return train_loader, data.TensorLoader(xt[:256], yt[:256], 256)


def short_run(seed, epochs=2):
    train.seed_everything(seed)
    model = build_model("final")
    loaders = tiny_loaders(seed)
    optimizer = train.make_optimizer("sgd", model.parameters(), 0.05)
    scheduler = train.make_scheduler("onecycle", optimizer, epochs, len(loaders[0]))
    history = train.fit(model, *loaders, epochs, optimizer, scheduler, progress=False,
                        log=lambda line: None)
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history], model


def test_same_seed_gives_the_same_history_on_cpu():
    first, _ = short_run(seed=1)
    second, _ = short_run(seed=1)
    third, _ = short_run(seed=2)
    assert first == second
    assert first != third


def test_onecycle_peaks_at_the_learning_rate_asked():
    model = build_model("light")
    optimizer = train.make_optimizer("sgd", model.parameters(), 0.1)
    scheduler = train.make_scheduler("onecycle", optimizer, epochs=5, steps_per_epoch=10)
    lrs = []
    for _ in range(50):
        lrs.append(optimizer.param_groups[0]["lr"])
        assert optimizer.param_groups[0]["momentum"] == 0.9  # as asked, not cycled
        optimizer.step()
        scheduler.step()
    assert max(lrs) == pytest.approx(0.1) and lrs[0] == pytest.approx(0.01)
    assert lrs[-1] < 1e-3


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_optimizers_are_built(name):
    params = build_model("light").parameters()
    optimizer = train.make_optimizer(name, params, 0.01)
    kind = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    assert type(optimizer) is kind and optimizer.param_groups[0]["lr"] == 0.01
    if name == "sgd":  # the workbook's SGD: momentum 0.9 with Nesterov, unless asked otherwise
        assert optimizer.defaults["nesterov"] and optimizer.defaults["momentum"] == 0.9
        plain = train.make_optimizer(name, build_model("light").parameters(), 0.01, momentum=0)
        assert not plain.defaults["nesterov"]


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_fused_optimizer_takes_the_same_step(name):
    """The benchmark's fused variant must be the same optimizer, only computed differently:
    from the same weights and gradients, it takes the same step."""
    torch.manual_seed(0)
    model = build_model("light")
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    torch.nn.functional.cross_entropy(model(x), y).backward()
    start = [p.detach().clone() for p in model.parameters()]
    grads = [p.grad.clone() for p in model.parameters()]
    steps = []
    for fused in (None, True):
        params = [torch.nn.Parameter(p.clone()) for p in start]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        optimizer = train.make_optimizer(name, params, 0.01, weight_decay=1e-4, fused=fused)
        assert optimizer.defaults["fused"] is fused
        optimizer.step()
        steps.append([p.detach() - s for p, s in zip(params, start)])
    # Each step is at most about lr = 0.01 per weight. Another rule (no Nesterov, no weight
    # decay, no bias correction) changes it by a good part of that; rounding in another order
    # changes it by about 1e-7 of it, whatever the CPU. So: equal to 1e-4 of lr.
    for plain, fused in zip(*steps):
        torch.testing.assert_close(fused, plain, rtol=0, atol=1e-6)  # 1e-4 of lr, any CPU
    assert max(step.abs().max() for step in steps[0]) > 1e-3  # a real step was taken


def test_unknown_optimizer_and_schedule_are_refused():
    params = list(build_model("light").parameters())
    with pytest.raises(ValueError, match="known: sgd, adam, adamw"):
        train.make_optimizer("rmsprop", params, 0.01)
    with pytest.raises(ValueError, match="known: onecycle"):
        train.make_scheduler("cosine", train.make_optimizer("sgd", params, 0.01), 1, 1)


def test_stop_at_target_stops_and_summary_finds_the_first_epoch():
    model = build_model("light")
    optimizer = train.make_optimizer("sgd", model.parameters(), 0.01)
    history = train.fit(model, *tiny_loaders(), 3, optimizer, target=0.0, stop_at_target=True,
                        progress=False, log=lambda line: None)
    assert len(history) == 1
    fake = [dict(epoch=e, train_acc=a - 1, test_acc=a, seconds=10.0 * e)
            for e, a in enumerate([98.0, 99.41, 99.3, 99.5], start=1)]
    s = train.summarize(fake, target=99.4)
    assert (s["target_epoch"], s["target_seconds"]) == (2, 20.0)
    assert (s["best_test_acc"], s["best_test_epoch"], s["last_test_acc"]) == (99.5, 4, 99.5)
    assert train.summarize(fake, target=99.9)["target_epoch"] is None


def test_misclassified_returns_only_mistakes():
    train.seed_everything(0)
    model = build_model("light").eval()
    all_images, all_labels, all_preds = train.predict(model, tiny_loaders()[1])
    images, labels, preds = train.misclassified(all_images, all_labels, all_preds, limit=7)
    assert len(images) == len(labels) == len(preds) == 7  # an untrained model errs often
    assert (labels != preds).all()
    first = (all_preds != all_labels).nonzero().flatten()[:7]  # the first 7, with their images
    assert torch.equal(images, all_images[first]) and torch.equal(labels, all_labels[first])


def test_weights_round_trip(tmp_path):
    model = build_model("final")
    train.save_weights(model, tmp_path / "w.pt", "final")
    other = train.load_weights(build_model("final"), tmp_path / "w.pt")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                  other.state_dict().values()))


def test_checkpoint_of_another_model_is_refused_clearly(tmp_path):
    train.save_weights(build_model("light"), tmp_path / "w.pt", "light")
    with pytest.raises(train.CheckpointError, match="weights of model 'light'.*FinalNet"):
        train.load_weights(build_model("final"), tmp_path / "w.pt")


def test_checkpoint_of_another_width_says_how_to_build_its_model(tmp_path):
    options = dict(widths=[8, 16, 12, 24])
    train.save_weights(build_model("tiny", **options), tmp_path / "w.pt", "tiny", options)
    with pytest.raises(train.CheckpointError, match=r"built with \{'widths': \[8, 16, 12, 24\]\}.*"
                       r"load it into models.build_model\('tiny', widths=\[8, 16, 12, 24\]\)"):
        train.load_weights(build_model("tiny"), tmp_path / "w.pt")
    train.load_weights(build_model("tiny", **options), tmp_path / "w.pt")


def test_unreadable_or_missing_checkpoint_is_refused(tmp_path):
    (tmp_path / "w.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(train.CheckpointError, match="not a readable checkpoint"):
        train.load_weights(build_model("final"), tmp_path / "w.pt")
    with pytest.raises(train.CheckpointError, match="no checkpoint"):
        train.load_weights(build_model("final"), tmp_path / "missing.pt")


def test_bf16_runs_the_convolutions_in_bf16_and_keeps_weights_in_float32():
    model = build_model("final").to(memory_format=torch.channels_last)
    seen = []
    model[1][0].register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    optimizer = train.make_optimizer("sgd", model.parameters(), 0.05)
    train_loader, test_loader = tiny_loaders()
    loss, _ = train.train_one_epoch(model, train_loader, optimizer, progress=False, bf16=True)
    assert seen[0] == torch.bfloat16 and loss == loss  # not NaN
    assert all(p.dtype == torch.float32 for p in model.parameters())
    seen.clear()
    bf16_loss, bf16_acc = train.evaluate(model, test_loader, bf16=True)
    assert seen[0] == torch.bfloat16
    fp32_loss, fp32_acc = train.evaluate(model, test_loader)
    assert seen[-1] == torch.float32
    # bf16 keeps 8 bits of mantissa (a rounding of 0.4% per value, the same on every CPU);
    # over the model's layers that moves the loss by about 1%, and 2.0 points are 5 of the
    # 256 images: far from a model evaluated in another precision by mistake.
    assert bf16_loss == pytest.approx(fp32_loss, rel=0.05) and abs(bf16_acc - fp32_acc) <= 2.0


def test_ema_is_updated_every_step_and_is_what_fit_evaluates():
    model = build_model("light_gap")
    ema = train.make_ema(model, decay=0.9)
    optimizer = train.make_optimizer("sgd", model.parameters(), 0.05)
    train_loader, test_loader = tiny_loaders()
    history = train.fit(model, train_loader, test_loader, 1, optimizer, progress=False,
                        log=lambda line: None, ema=ema)
    assert ema.n_averaged.item() == len(train_loader)
    assert not torch.allclose(model[0][0].weight, ema.module[0][0].weight)
    assert history[-1]["test_loss"] == pytest.approx(train.evaluate(ema, test_loader)[0])
    assert history[-1]["test_loss"] != pytest.approx(train.evaluate(model, test_loader)[0])


def test_a_compiled_model_is_evaluated_eagerly_with_its_weights():
    model = build_model("light_gap")

    def never(graph, example_inputs):
        raise AssertionError("evaluate compiled the model")

    compiled = torch.compile(model, backend=never)
    _, test_loader = tiny_loaders()
    assert train.evaluate(compiled, test_loader) == train.evaluate(model, test_loader)
    assert not model.training


# --- the command line ----------------------------------------------------------------------

def test_cli_smoke_run_writes_metrics_weights_and_curves(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORKBOOK_SMOKE", "1")
    out = tmp_path / "run"
    train.main(["--model", "final", "--epochs", "15", "--seed", "0", "--out", str(out),
                "--no-progress"])
    printed = capsys.readouterr().out
    assert "smoke mode" in printed and "17,154 parameters" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["params"] == count_parameters(build_model("final")) and metrics["smoke"]
    assert len(metrics["history"]) == 1  # smoke mode: one epoch
    assert {"test_acc", "seconds", "train_acc", "lr"} <= set(metrics["history"][0])
    train.load_weights(build_model("final"), out / "weights.pt")
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_bf16_and_ema_are_recorded_and_the_average_is_saved(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORKBOOK_SMOKE", "1")
    metrics = train.main(["--model", "light_gap", "--bf16", "--ema", "0.9", "--out", str(tmp_path),
                          "--no-progress"])
    assert metrics["args"]["bf16"] is True and metrics["args"]["ema"] == 0.9
    assert "bf16, EMA 0.9" in capsys.readouterr().out
    # The saved weights are the average, the model that was evaluated: they give its loss.
    model = train.load_weights(build_model("light_gap"), tmp_path / "weights.pt")
    _, test_loader = data.fast_loaders()
    loss, _ = train.evaluate(model.to(memory_format=torch.channels_last), test_loader, bf16=True)
    assert loss == pytest.approx(metrics["history"][-1]["test_loss"], rel=1e-4)


@pytest.mark.skipif(shutil.which("g++") is None, reason="torch.compile needs a C++ compiler")
def test_cli_compile_trains_the_compiled_model_and_saves_plain_weights(tmp_path, monkeypatch,
                                                                        capsys):
    monkeypatch.setenv("WORKBOOK_SMOKE", "1")
    metrics = train.main(["--model", "light_gap", "--compile", "--out", str(tmp_path),
                          "--no-progress"])
    assert metrics["args"]["compile"] is True and "compiled" in capsys.readouterr().out
    eager = train.main(["--model", "light_gap", "--out", str(tmp_path / "eager"), "--no-progress"])
    # The same training, up to the rounding of fused kernels: over one epoch's 32 steps that
    # moves the mean loss by well under 1%, while another recipe or model moves it by far more.
    assert metrics["history"][0]["train_loss"] == pytest.approx(
        eager["history"][0]["train_loss"], rel=0.01)
    model = train.load_weights(build_model("light_gap"), tmp_path / "weights.pt")
    _, test_loader = data.fast_loaders()
    loss, _ = train.evaluate(model, test_loader)
    assert loss == pytest.approx(metrics["history"][-1]["test_loss"], rel=1e-4)


def test_a_maintainers_run_shows_no_progress_bar(monkeypatch):
    """Its outputs are committed: a frozen bar would be saved in them."""
    shown = []
    real = train.train_one_epoch
    monkeypatch.setattr(train, "train_one_epoch",
                        lambda *args, **kwargs: shown.append(args[6]) or real(*args, **kwargs))
    for publish in ("", "1"):
        monkeypatch.setenv("WORKBOOK_PUBLISH", publish)
        model = build_model("light")
        train.fit(model, *tiny_loaders(), 1, train.make_optimizer("sgd", model.parameters(), 0.01),
                  log=lambda line: None)
    assert shown == [True, False]


def test_a_loss_that_becomes_nan_stops_the_run_and_names_where(monkeypatch):
    model = build_model("light")
    optimizer = train.make_optimizer("sgd", model.parameters(), 1e9)
    with pytest.raises(train.Diverged, match=r"epoch 1: the training loss became (nan|inf) "
                                             r"at batch \d+ of 8\b.*lower it and train again"):
        train.fit(model, *tiny_loaders(), 3, optimizer, progress=False, log=lambda line: None)


def test_a_loss_checked_every_few_batches_names_the_batches_and_the_tail_is_checked():
    """As on a GPU, where the loss is read back every 50th batch only."""
    x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    for batches, message in ((10, "one of batches 1 to 4 of 10"), (3, "one of batches 1 to 3 of 3")):
        model = build_model("light")
        optimizer = train.make_optimizer("sgd", model.parameters(), 1e9)
        with pytest.raises(train.Diverged, match=message):
            train.train_one_epoch(model, [(x, y)] * batches, optimizer, progress=False,
                                  check_every=4)


def test_cli_stops_a_diverged_run_and_saves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_SMOKE", "1")
    with pytest.raises(SystemExit, match=r"(?s)loss became .* at batch \d+ .*Nothing was saved.*"
                                         r"lower --lr than 1000000000.0") as stop:
        train.main(["--lr", "1e9", "--epochs", "1", "--out", str(tmp_path), "--no-progress"])
    assert stop.value.code != 0  # sys.exit with a message exits with status 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", ["--lr", "--momentum", "--weight-decay", "--clip",
                                    "--degrees", "--target", "--dropout", "--head-dropout"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_float_options_refuse_nan_and_infinity(option, value, capsys):
    with pytest.raises(SystemExit):
        train.parse_args([f"{option}={value}"])
    assert f"argument {option}: must be" in capsys.readouterr().err


def test_cli_will_not_overwrite_a_run(tmp_path, capsys):
    (tmp_path / "metrics.json").write_text('{"keep": true}')
    with pytest.raises(SystemExit, match="already holds a run.*--overwrite"):
        train.main(["--out", str(tmp_path)])
    assert (tmp_path / "metrics.json").read_text() == '{"keep": true}'


@pytest.mark.parametrize("argv, message", [
    (["--model", "resnet"], "invalid choice: 'resnet' (choose from"),
    (["--epochs", "0"], "must be at least 1"),
    (["--lr", "-1"], "must be >= 0"),
    (["--translate", "1.5"], "must be in [0, 1)"),
    (["--optimizer", "lbfgs"], "invalid choice"),
])
def test_cli_bad_arguments_get_clear_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        train.parse_args(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    if "--model" in argv:
        assert all(name in err.split("choose from")[1] for name in MODELS)


def test_cli_refuses_options_the_model_does_not_take(tmp_path):
    with pytest.raises(SystemExit, match="--model baseline takes no --dropout; models that do: "
                                         "light_bn_dropout, light_gap, final, tiny"):
        train.main(["--model", "baseline", "--dropout", "0.1", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="takes no --widths; models that do: tiny"):
        train.main(["--model", "final", "--widths", "4", "8", "6", "10", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="takes no --pool-dropout; models that do: separable"):
        train.main(["--model", "final", "--pool-dropout", "0.1", "--out", str(tmp_path)])


def test_cli_without_data_says_where_to_put_it(tmp_path, offline):
    with pytest.raises(SystemExit, match="MNIST_ROOT"):
        train.main(["--data", str(tmp_path / "empty"), "--out", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def test_cli_refuses_an_output_it_cannot_write_before_training(tmp_path, capsys):
    (tmp_path / "a_file").write_text("mine")
    with pytest.raises(SystemExit, match="cannot save the run in .*a_file.*choose another --out"):
        train.main(["--out", str(tmp_path / "a_file")])
    assert "epoch" not in capsys.readouterr().out
    assert (tmp_path / "a_file").read_text() == "mine"


@pytest.mark.parametrize("name", ["gpu", "CPU", "cuda:x"])
def test_an_unknown_device_is_refused_clearly(name, tmp_path):
    with pytest.raises(ValueError, match=f"unknown device '{name}'; use cpu, cuda or cuda:N"):
        train.pick_device(name)
    with pytest.raises(SystemExit, match="unknown device"):
        train.main(["--device", name, "--out", str(tmp_path)])


def test_cuda_is_refused_clearly_when_absent(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        train.pick_device("cuda")
    with pytest.raises(SystemExit, match="'cuda' was asked for, but torch sees no CUDA GPU"):
        train.main(["--device", "cuda", "--out", str(tmp_path)])


def test_an_empty_loader_is_an_error_not_a_division_by_zero():
    model = build_model("light")
    optimizer = train.make_optimizer("sgd", model.parameters(), 0.01)
    with pytest.raises(ValueError, match="no batches"):
        train.train_one_epoch(model, [], optimizer, progress=False)
    with pytest.raises(ValueError, match="no batches"):
        train.evaluate(model, [])


def test_one_epoch_on_real_data_reaches_98_percent():
    """The real thing, small: the final model, one epoch on all 60k images, on the CPU."""
    train.seed_everything(0)
    model = build_model("final")
    loaders = data.fast_loaders(augment=data.Augment(degrees=10, translate=0.1, scale=0.1))
    optimizer = train.make_optimizer("sgd", model.parameters(), 0.05, weight_decay=1e-4)
    scheduler = train.make_scheduler("onecycle", optimizer, 1, len(loaders[0]))
    history = train.fit(model, *loaders, 1, optimizer, scheduler, progress=False)
    assert history[0]["test_acc"] >= 98.0


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU"))])
def test_command_line_fuses_the_optimizer_step_on_a_gpu_only(tmp_path, monkeypatch, device):
    monkeypatch.setenv("WORKBOOK_SMOKE", "1")
    made = []
    make_optimizer = train.make_optimizer

    def recording(*args, **kwargs):
        made.append(kwargs)
        return make_optimizer(*args, **kwargs)

    monkeypatch.setattr(train, "make_optimizer", recording)
    train.main(["--model", "light_gap", "--device", device, "--out", str(tmp_path), "--no-progress"])
    assert made[0]["fused"] is (True if device == "cuda" else None)


@pytest.mark.parametrize("host, variable", [("Colab", "COLAB_RELEASE_TAG"),
                                            ("Kaggle", "KAGGLE_KERNEL_RUN_TYPE"), (None, None)])
def test_a_hosted_notebook_without_a_gpu_is_warned_with_the_menu_path(host, variable, monkeypatch,
                                                                      capsys):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if variable:
        monkeypatch.setenv(variable, "1")
    assert train.pick_device() == torch.device("cpu")  # and it goes on with the CPU
    err = capsys.readouterr().err
    if host:
        assert f"WARNING: no GPU in this {host} runtime" in err
        assert {"Colab": "Runtime > Change runtime type", "Kaggle": "Accelerator > GPU"}[host] in err
    else:
        assert err == ""
    train.pick_device("cpu")  # asked for by name: no warning
    assert capsys.readouterr().err == ""


def test_the_range_test_grows_the_rate_stops_when_the_loss_blows_up_and_puts_back_the_model(tmp_path):
    train.seed_everything(0)
    model = build_model("light_bn")
    optimizer = train.make_optimizer("sgd", model.parameters(), 0.01)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rates, losses = train.lr_range_test(model, tiny_loaders()[0], optimizer, start=1e-4,
                                        end=1e3, steps=60)
    assert len(rates) == len(losses) and 5 < len(rates) < 60  # stopped early: 1e3 blows it up
    ratios = [b / a for a, b in zip(rates, rates[1:])]
    assert max(ratios) == pytest.approx(min(ratios)) and ratios[0] > 1  # exponential growth
    assert max(losses) > 3.9 * min(losses) or len(rates) < 59
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert optimizer.param_groups[0]["lr"] == 0.01 and not optimizer.state  # as it was
    peak = train.suggest_peak_lr(rates, losses)
    assert peak == pytest.approx(rates[losses.index(min(losses))] / 10)
    from utils.plot import lr_range_figure

    fig = lr_range_figure({"seed 0": (rates, losses), "again": (rates, losses)}, chosen=peak,
                          save=tmp_path / "lr.png")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    low = rates[losses.index(min(losses))]
    assert texts == [f"seed 0: lowest at {low:.3g}", f"again: lowest at {low:.3g}",
                     f"this recipe's peak {peak:.3g}"]


def test_diagnose_measures_train_accuracy_in_eval_mode_against_the_test(capsys):
    (x, y), (xt, yt) = data.splits("test")
    train_loader = data.TensorLoader(x[:1000], y[:1000], 100, shuffle=True,
                                     augment=data.Augment(degrees=10))
    model = build_model("light_bn_dropout")
    history = [dict(test_acc=a) for a in (97.0, 98.0, 97.5)]
    found = train.diagnose(model, train_loader, history)
    # Measured on the 1,000 training images in order, in eval mode, without augmentation.
    _, expected = train.evaluate(model, data.TensorLoader(x[:1000], y[:1000], 1000))
    assert found["train_acc_eval"] == expected and found["test_acc"] == 97.5
    assert found["gap"] == pytest.approx(expected - 97.5) and found["last3_spread"] == 1.0
    assert found["params"] == 13_026 and not found["over_budget"]
    assert "under the 20,000 budget" in capsys.readouterr().out
    assert train.diagnose(build_model("skeleton"), train_loader, history)["over_budget"]


def test_largest_feature_share_is_the_top_positive_term_of_the_predicted_score():
    """Pooled features (1, 1, 1, 1). Class 0's weights (2, 1, 1, -5) score -1, class 1's
    (0.1 each) score 0.4: class 1 wins and its largest term is a quarter of its positive ones.
    Without the -5, class 0 wins (4) and its largest term, 2, is half of 2 + 1 + 1."""
    model = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Conv2d(4, 2, 1, bias=False),
                                torch.nn.Flatten())
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[2.0, 1.0, 1.0, -5.0], [0.1, 0.1, 0.1, 0.1]]).view(2, 4, 1, 1))
    loader = [(torch.ones(3, 4, 5, 5), torch.zeros(3, dtype=torch.long))]
    assert train.largest_feature_share(model, loader) == pytest.approx(25.0)
    with torch.no_grad():
        model[1].weight[0, 3] = 0.0
    assert train.largest_feature_share(model, loader) == pytest.approx(50.0)
    assert not model[1]._forward_hooks  # the hook is removed


def test_accuracy_with_features_dropped_masks_the_classifiers_input_as_a_head_dropout():
    """Two classes read four pooled features: class 0 weighs feature 0 alone (3), class 1 all
    four (1 each). With every feature (1, 1, 1, 1) class 1 wins, 4 against 3, as labelled;
    with some dropped it stays right only while its kept features outnumber three times
    feature 0 (a tie goes to class 0). Checked against masks drawn by hand from the same seed."""
    model = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Conv2d(4, 2, 1, bias=False),
                                torch.nn.Flatten())
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[3.0, 0, 0, 0], [1.0, 1.0, 1.0, 1.0]]).view(2, 4, 1, 1))
    loader = [(torch.ones(50, 4, 3, 3), torch.ones(50, dtype=torch.long))] * 2
    assert train.accuracy_with_features_dropped(model, loader, p=0.0) == 100.0
    p, draws = 0.5, 3
    generator, right = torch.Generator().manual_seed(7), 0
    for _ in range(draws * len(loader)):
        kept = (torch.rand((50, 4, 1, 1), generator=generator) >= p).float().flatten(1)
        right += (kept[:, 0] * 3 < kept.sum(1)).sum().item()  # class 1 still ahead
    measured = train.accuracy_with_features_dropped(model, loader, p=p, draws=draws, seed=7)
    assert measured == pytest.approx(100.0 * right / (draws * 100))
    assert 0 < measured < 100  # some draws change the answer, some do not
    assert measured == train.accuracy_with_features_dropped(model, loader, p=p, draws=draws, seed=7)
    assert not model[1]._forward_pre_hooks  # the mask is removed: the model is as it was


def test_quiet_native_stderr_silences_writes_to_fd_2_and_puts_it_back(capfd):
    """What C++ code writes to file descriptor 2 inside the block is dropped; after it, even
    after an error in it, stderr works again."""
    import os
    from utils import bench
    with bench.quiet_native_stderr():
        os.write(2, b"profiler_start\n")
    with pytest.raises(ValueError):
        with bench.quiet_native_stderr():
            raise ValueError("inside")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_show_summary_changes_neither_the_random_state_nor_the_model(capsys):
    """torchsummary feeds the model random images: shown through show_summary, the run that
    follows draws the same Dropout masks, and BatchNorm's running statistics are untouched."""
    torch.manual_seed(0)
    model = build_model("final").train()
    state = torch.get_rng_state()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train.show_summary(model)
    assert "Total params: 17,154" in capsys.readouterr().out
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert model.training  # left in the mode it came in

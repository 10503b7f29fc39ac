"""Receptive field of every spatial layer of a model, measured by running it once.

The receptive field (RF) of a pixel is the patch of the input image it can see. Two numbers
are tracked layer by layer, starting from the input with rf = 1 and jump = 1:

* jump: the distance, in input pixels, between two neighbouring pixels of this layer's
  output.  jump_out = jump_in * stride
* rf:   a k x k kernel sees k neighbours, each `jump_in` input pixels apart (times the
  dilation), so it adds (k - 1) of those steps.  rf_out = rf_in + (k - 1) * dilation * jump_in
* start: where the centre of the layer's first output pixel lies on the image (pixel i of the
  image has its centre at i). Its kernel's centre sits (k - 1) / 2 * dilation pixels of its
  input in from the edge, less the padding:
  start_out = start_in + ((k - 1) / 2 * dilation - padding) * jump_in
  Output pixel i then sees the image from start + i * jump - (rf - 1) / 2 to
  start + i * jump + (rf - 1) / 2: where a map of this layer belongs on the image.

Rather than parse the model, we hook the Conv2d and pooling modules and run one zero image
through it: the rows then come out in the order the layers really run, whatever the order in
which they were defined, and the output sizes are measured rather than computed.
"""
import torch
import torch.nn as nn

SPATIAL_LAYERS = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)


def _square(value):
    """Layers accept an int or a (height, width) pair; we assume square and take one."""
    return value[0] if isinstance(value, (tuple, list)) else value


def receptive_field(model, input_size=(1, 28, 28)):
    """One dict per spatial layer, in execution order, with its size, rf, jump and start."""
    records = []  # (name, module, input height, output height), appended as layers run

    def make_hook(name):
        def hook(module, inputs, output):
            records.append((name, module, inputs[0].shape[-2], output.shape[-2]))
        return hook

    handles = [m.register_forward_hook(make_hook(name))
               for name, m in model.named_modules() if isinstance(m, SPATIAL_LAYERS)]
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    try:
        model.eval()  # so BatchNorm and Dropout leave no trace of this dummy run
        with torch.no_grad():
            model(torch.zeros(1, *input_size, device=device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)

    rows, rf, jump, start = [], 1, 1, 0.0
    for name, module, size_in, size_out in records:
        if isinstance(module, nn.AdaptiveAvgPool2d):
            if size_out != 1:
                raise ValueError(f"{name}: only AdaptiveAvgPool2d(1), global average pooling, "
                                 f"is supported, not an output of {size_out}x{size_out}")
            # Global average pooling: one "kernel" as large as the whole remaining map.
            kernel = stride = size_in
            padding, dilation = 0, 1
            kind = "GAP"
        else:
            kernel = _square(module.kernel_size)
            stride = _square(module.stride)
            padding = _square(module.padding)
            dilation = _square(getattr(module, "dilation", 1))  # AvgPool2d has none
            kind = f"{type(module).__name__} {kernel}x{kernel}"
            if stride != 1 and isinstance(module, nn.Conv2d):
                kind += f" s{stride}"
            if dilation != 1:
                kind += f" d{dilation}"
            if getattr(module, "groups", 1) > 1:
                kind += " dw" if module.groups == module.in_channels else f" g{module.groups}"
        rf = rf + (kernel - 1) * dilation * jump
        start = start + ((kernel - 1) / 2 * dilation - padding) * jump
        jump = jump * stride
        rows.append(dict(layer=name, kind=kind, kernel=kernel, stride=stride,
                         padding=padding, dilation=dilation, size=size_out,
                         rf=rf, jump=jump, start=start))
    return rows


def receptive_field_table(model, input_size=(1, 28, 28)):
    """`receptive_field` as a plain-text table, for print()."""
    rows = receptive_field(model, input_size)
    lines = [f"{'layer':<10} {'kind':<16} {'size':>5} {'rf':>5} {'jump':>5}"]
    for r in rows:
        lines.append(f"{r['layer']:<10} {r['kind']:<16} {r['size']:>5} {r['rf']:>5} {r['jump']:>5}")
    final = rows[-1]["rf"] if rows else 1
    h, w = input_size[-2], input_size[-1]
    lines.append(f"final receptive field: {final} pixels (input {h}x{w})")
    return "\n".join(lines)

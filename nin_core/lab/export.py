"""Any configuration as a standalone PyTorch script in the chapter's own style: its ``nin_block``, its
``nn.Sequential``, its shape printout, d2l's ``load_data_fashion_mnist`` reading the data where the dashboard finds
it (data.find_dataset's order) and a plain training loop ending with the chapter's two lines. The script imports
torch and torchvision only.

What goes beyond the chapter appears only when the configuration asks for it (batch norm, another number or kernel
of 1×1 convolutions, a fully connected head, no last ReLU, more input channels, another optimizer, a schedule, label
smoothing, flips and shifts, test-time flips, subsets, a validation split), each reproducing nin_core exactly: the
network's layers (and so its ``state_dict``) are nin_core's, the seed gives the same initial weights, the optimizer
and the loss take the same arguments, the same images are drawn for the subsets and the validation split, and the
schedule, the augmentation and the test-time flips are the same formulas (tests/test_setting_effects.py holds every
setting to it). Images go through torchvision's PIL ``Resize`` as in the chapter, where nin_core resizes on the
device with the same bilinear filter.
"""

from __future__ import annotations

from textwrap import dedent, fill, indent

from nin_core.network.config import RunConfig, TrainConfig
from nin_core.network.data import DEBIAN_DIR, ENV_VAR, IDX_FILES
from nin_core.network.geometry import last_block_size
from nin_core.network.schedule import ONECYCLE_END, ONECYCLE_RISE, ONECYCLE_START, WARMUP_START
from nin_core.runs.urlconfig import describe


def export_script(config: RunConfig) -> str:
    """The script that builds and trains exactly ``config`` on Fashion-MNIST (``python nin.py --help``)."""
    t = config.train
    parts = [_header(config), _settings(config), _block(config), _net(config), _init(config), _shapes(config),
             _data(config)]
    if t.augment == "flip-shift":
        parts.append(FLIP_SHIFT)
    if _scheduled(t):
        parts.append(_schedule(config))
    parts += [_evaluate(config), _train(config), _main(config)]
    return "\n\n\n".join(p.strip("\n") for p in parts) + "\n"


def _header(config: RunConfig) -> str:
    t = config.train
    notes = []
    if t.precision != "bf16":
        notes.append("float32, as the chapter (the dashboard's `auto` precision may train in bf16)")
    if t.processes > 1:
        notes.append(f"one device (the dashboard trains this on {t.processes} GPUs with DistributedDataParallel)")
    if t.repeats > 1:
        notes.append(f"one run, seed {t.seed}: the dashboard trains this over {t.repeats} seeds, {t.seed} to "
                     f"{t.seed + t.repeats - 1}, one run each (set `seed` below for the others)")
    note = "".join(f"\nTrains in {n}." for n in notes)
    scheduled = _scheduled(t)
    title = fill(f"Network in Network (d2l 7.3) on Fashion-MNIST, exported from the NiN dashboard: "
                 f"{describe(config)}.", 116, break_on_hyphens=False)
    return f'''"""{title}

Builds and trains exactly this configuration with PyTorch and torchvision alone:

    python nin.py [--data-root DIR] [--shapes-only]

Fashion-MNIST is read where the NiN dashboard finds it: DIR, else ${ENV_VAR}, else the user cache
($XDG_CACHE_HOME or ~/.cache)/nin/fashion-mnist, then {DEBIAN_DIR} (Debian's and Ubuntu's
dataset-fashion-mnist); each a folder holding the four IDX files, raw or .gz, or torchvision's FashionMNIST/raw/
with them. Found nowhere, torchvision downloads it into the cache.{note}
"""
import argparse
import gzip
{"import math" + chr(10) if scheduled else ""}import os
import struct
import time

import torch
import torchvision
from torch import nn
{"from torch.nn import functional as F" + chr(10) if t.augment == "flip-shift" else ""}from torch.utils import data
from torchvision import transforms'''


def _scheduled(t: TrainConfig) -> bool:
    """Whether the rate changes during the run (the chapter keeps it constant)."""
    return t.schedule != "constant" or bool(t.warmup_epochs)


def _settings(config: RunConfig) -> str:
    a, t = config.arch, config.train
    lines = [f"lr, num_epochs, batch_size = {t.lr!r}, {t.epochs}, {t.batch_size}",
             f"resize = {a.resize}",
             *([f"in_channels = {a.in_channels}  # each grayscale image repeated over them"]
               if a.in_channels != 1 else []),
             f"seed = {t.seed}",
             "# a seeded random subset of this many images (None: the whole split)",
             f"train_size, test_size = {t.train_size!r}, {t.test_size!r}"]
    if t.validation_size:
        lines.append(f"validation_size = {t.validation_size}  # the last training images, evaluated instead of "
                     "the test set")
    if t.optimizer == "sgd" and t.momentum:
        lines.append(f"momentum = {t.momentum!r}")
    if t.optimizer != "sgd" or t.weight_decay:  # Adam(W) is always given it: AdamW's own default is 0.01
        lines.append(f"weight_decay = {t.weight_decay!r}")
    if _scheduled(t):
        lines.append(f"schedule, warmup_epochs = {t.schedule!r}, {t.warmup_epochs!r}")
    if t.label_smoothing:
        lines.append(f"label_smoothing = {t.label_smoothing!r}")
    return "\n".join(lines)


def _block(config: RunConfig) -> str:
    """``nin_block`` as the chapter writes it, with what this configuration changes in it."""
    a = config.arch
    k = a.pointwise_kernel
    norm = "\n        nn.BatchNorm2d(out_channels)," if a.batch_norm else ""
    pointwise = f"kernel_size={k}" + (f", padding={k // 2}" if k // 2 else "")
    convs = ["nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding),"]
    convs += [f"nn.Conv2d(out_channels, out_channels, {pointwise}),"] * a.pointwise_convs
    layers = f"{norm}\n        nn.ReLU(),\n        ".join(convs)
    count = ("no", "one", "two", "three")[a.pointwise_convs] + f" {k}×{k} convolution" + \
        ("s" if a.pointwise_convs != 1 else "") + (" acting as per-pixel fully connected layers" if k == 1 else "")
    doc = indent(fill(f'"""A k×k convolution, then {count}, each followed by '
                      f'{"batch norm and " if a.batch_norm else ""}ReLU."""', 112), "    ")
    if a.final_relu:
        return (f"def nin_block(in_channels, out_channels, kernel_size, strides, padding):\n{doc}\n"
                f"    return nn.Sequential(\n        {layers}{norm}\n        nn.ReLU())")
    return (f"def nin_block(in_channels, out_channels, kernel_size, strides, padding, last_relu=True):\n{doc}\n"
            f"    layers = [\n        {layers}{norm}]\n"
            "    if last_relu:  # the last block ends without it: its maps can be negative\n"
            "        layers.append(nn.ReLU())\n"
            "    return nn.Sequential(*layers)")


def _net(config: RunConfig) -> str:
    a = config.arch
    lines, in_channels, last = [], a.in_channels, len(a.blocks) - 1
    for i, b in enumerate(a.blocks):
        if i == last:
            lines.append(f"nn.Dropout({a.dropout!r}),")
        tail = ", last_relu=False" if i == last and not a.final_relu else ""
        lines.append(f"nin_block({in_channels}, {b.out_channels}, kernel_size={b.kernel_size}, strides={b.stride}, "
                     f"padding={b.padding}{tail}),")
        if i != last:
            lines.append(f"nn.MaxPool2d({a.pool_kernel}, stride={a.pool_stride}),")
        in_channels = b.out_channels
    if a.head == "fc":
        side = last_block_size(a, a.resize)
        lines += ["# a fully connected head on the last block's maps, instead of the global average pool",
                  "nn.Flatten(),", f"nn.Linear({in_channels} * {side} * {side}, {a.num_classes}))"]
    else:
        lines += ["# the global average pool reduces each class's map to one value: the logits",
                  "nn.AdaptiveAvgPool2d((1, 1)),", "nn.Flatten())"]
    return "torch.manual_seed(seed)  # the same initial weights as the dashboard's run\nnet = nn.Sequential(\n" + \
        indent("\n".join(lines), "    ")


def _init(config: RunConfig) -> str:
    if config.train.init == "default":
        return "# the weights keep PyTorch's own initialisation"
    return dedent('''
        def init_weights(m):
            """d2l's train_ch6: xavier-uniform weights for the convolutions and linear layers."""
            if type(m) == nn.Linear or type(m) == nn.Conv2d:
                nn.init.xavier_uniform_(m.weight)


        net.apply(init_weights)''')


def _shapes(config: RunConfig) -> str:
    return f'''def print_shapes():
    X = torch.rand(size=(1, {config.arch.in_channels}, resize, resize))
    for layer in net:
        X = layer(X)
        print(layer.__class__.__name__, 'output shape:\\t', X.shape)'''


def _data(config: RunConfig) -> str:
    t = config.train
    resize = "\n    if resize != 28:\n        trans.insert(0, transforms.Resize(resize))"
    channels = ("\n    trans.append(transforms.Lambda(repeat_channels))" if config.arch.in_channels != 1 else "")
    repeat = ('def repeat_channels(X):\n    """The grayscale image repeated over the input channels."""\n'
              "    return X.expand(in_channels, -1, -1)\n\n\n" if channels else "")
    if t.validation_size:
        split = dedent('''
            # the last validation_size training images stand in for the test set
            cut = len(mnist_train) - validation_size
            mnist_test = data.Subset(mnist_train, range(cut, len(mnist_train)))
            mnist_train = data.Subset(mnist_train, range(cut))''')
    else:
        split = "\nmnist_test = FashionMNIST(folder, False, trans)"
    return f'''{repeat}{_reader()}


def subset(dataset, size):
    """size images drawn at random, the same ones for the same size and seed (None: all of them)."""
    if size is None:
        return dataset
    index = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:size]
    return data.Subset(dataset, index.tolist())


def load_data_fashion_mnist(batch_size, resize, root=None):
    """d2l's loader: Fashion-MNIST, resized, as tensors in [0, 1]."""
    trans = [transforms.ToTensor()]{resize}{channels}
    trans = transforms.Compose(trans)
    folder = find_fashion_mnist(root)
    mnist_train = FashionMNIST(folder, True, trans)
{indent(split.strip(), "    ")}
    shuffle = torch.Generator().manual_seed(seed)
    workers = min(4, os.cpu_count() or 1)  # d2l's 4, or fewer where there are fewer CPUs
    return (data.DataLoader(subset(mnist_train, train_size), batch_size, shuffle=True, num_workers=workers,
                            generator=shuffle),
            data.DataLoader(subset(mnist_test, test_size), batch_size, shuffle=False, num_workers=workers))'''


def _reader() -> str:
    """Finding and reading the IDX files as nin_core.network.data does, without it."""
    # Longer than 40 lines: it is the text of the script's reader, one template.
    files = "".join(f"\n    {split!r}: ({IDX_FILES[f'{split}_images']!r}, {IDX_FILES[f'{split}_labels']!r}),"
                    for split in ("train", "test"))
    return f'''FILES = {{{files}\n}}


def holding(folder):
    """folder, or torchvision's folder/FashionMNIST/raw, whichever holds the four files (raw or .gz); else None."""
    for candidate in (folder, os.path.join(folder, 'FashionMNIST', 'raw')):
        if all(os.path.isfile(os.path.join(candidate, name)) or os.path.isfile(os.path.join(candidate, name + '.gz'))
               for pair in FILES.values() for name in pair):
            return candidate
    return None


def find_fashion_mnist(root=None):
    """The folder of the files, looked for as the NiN dashboard does: root, else ${ENV_VAR} (either is the only
    place looked), else the user cache, then Debian's package; found nowhere, downloaded into the cache."""
    asked = root or os.environ.get('{ENV_VAR}')
    if asked:
        found = holding(os.path.expanduser(asked))
        if found is None:
            raise SystemExit(f"{{asked}} lacks Fashion-MNIST's four IDX files (raw or .gz)")
        return found
    cache = os.path.join(os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'nin', 'fashion-mnist')
    for folder in (cache, '{DEBIAN_DIR}'):
        if found := holding(folder):
            return found
    torchvision.datasets.FashionMNIST(root=cache, download=True)
    return holding(cache)


def read_idx(folder, name):
    """An IDX file of bytes (raw, else gzipped) as a uint8 tensor of its shape."""
    path = os.path.join(folder, name)
    with open(path, 'rb') if os.path.isfile(path) else gzip.open(path + '.gz', 'rb') as f:
        raw = f.read()
    ndim = raw[3]
    shape = struct.unpack(f'>{{ndim}}I', raw[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(raw[4 + 4 * ndim:]), dtype=torch.uint8).reshape(shape)


class FashionMNIST(data.Dataset):
    """One split as torchvision's FashionMNIST gives it (a PIL image through transform, the label), read from
    the files in folder."""

    def __init__(self, folder, train, transform):
        images, labels = FILES['train' if train else 'test']
        self.images, self.labels = read_idx(folder, images), read_idx(folder, labels)
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(transforms.functional.to_pil_image(self.images[i])), int(self.labels[i])'''


FLIP_SHIFT = '''
def flip_shift(X, generator):
    """Each image mirrored left-right with probability 1/2 and moved by up to 2 px (at 28 px, scaled with the
    resize) in each direction, the border filled with zeros."""
    b, _, h, w = X.shape
    s = max(1, round(2 * h / 28))
    flip = torch.rand(b, generator=generator) < 0.5
    dy, dx = torch.randint(-s, s + 1, (2, b), generator=generator) + s
    X = torch.where(flip[:, None, None, None], X.flip(-1), X)
    padded = F.pad(X, (s, s, s, s))
    rows = (torch.arange(h)[None, :] + dy[:, None])[:, :, None]
    cols = (torch.arange(w)[None, :] + dx[:, None])[:, None, :]
    return padded[torch.arange(b)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)'''


def _schedule(config: RunConfig) -> str:
    return f'''def cosine(start, end, fraction):
    return end + (start - end) * (1 + math.cos(math.pi * min(1.0, fraction))) / 2


def lr_at(step, steps_per_epoch):
    """The learning rate of training step ``step`` (0-based), with a linear warm-up from a tenth of it."""
    total = max(1, num_epochs * steps_per_epoch)
    warm = round(warmup_epochs * steps_per_epoch)
    if schedule == "onecycle":  # up from lr/25 (over the warm-up, or {ONECYCLE_RISE:.0%} of the run), down to lr/10,000
        rise = warm or max(1, round({ONECYCLE_RISE!r} * total))
        if step < rise:
            return cosine(lr * {ONECYCLE_START!r}, lr, step / rise)
        return cosine(lr, lr * {ONECYCLE_END!r}, (step - rise) / max(1, total - rise))
    if step < warm:
        return lr * ({WARMUP_START!r} + (1 - {WARMUP_START!r}) * step / warm)
    done = (step - warm) / max(1, total - warm)
    if schedule == "cosine":
        return cosine(lr, 0.0, done)
    if schedule == "step":  # a tenth at half and three quarters of the run
        return lr * (0.1 ** ((done >= 0.5) + (done >= 0.75)))
    return lr'''


def _evaluate(config: RunConfig) -> str:
    if config.train.tta:
        predict = ("            # test-time flips: the probabilities of each image and its mirror, averaged\n"
                   "            y_hat = (net(X).softmax(1) + net(X.flip(-1)).softmax(1)) / 2")
    else:
        predict = "            y_hat = net(X)"
    autocast = ", torch.autocast(device.type, dtype=torch.bfloat16)" if config.train.precision == "bf16" else ""
    return f'''def accuracy(y_hat, y):
    return float((y_hat.argmax(dim=1) == y).sum())


def evaluate_accuracy(net, data_iter, device):
    net.eval()  # dropout off{", batch norm on its running statistics" if config.arch.batch_norm else ""}
    correct, total = 0.0, 0
    with torch.no_grad(){autocast}:
        for X, y in data_iter:
            X, y = X.to(device), y.to(device)
{predict}
            correct += accuracy(y_hat, y)
            total += y.numel()
    return correct / total'''


def _optimizer(config: RunConfig) -> str:
    t = config.train
    if t.optimizer != "sgd":
        name = {"adam": "Adam", "adamw": "AdamW"}[t.optimizer]
        return f"torch.optim.{name}(net.parameters(), lr=lr, weight_decay=weight_decay)"
    extra = "".join([", momentum=momentum" if t.momentum else "", ", weight_decay=weight_decay" if t.weight_decay
                     else "", ", nesterov=True" if t.nesterov else ""])
    return f"torch.optim.SGD(net.parameters(), lr=lr{extra})"


def _step(config: RunConfig) -> str:
    """One training step as nin_core takes it: the rate of the step, augmentation, precision."""
    t = config.train
    lines = ["optimizer.zero_grad()"]
    if _scheduled(t):
        lines = ["for group in optimizer.param_groups:", "    group['lr'] = lr_at(step, len(train_iter))", *lines]
    if t.augment == "flip-shift":
        lines.append("X = flip_shift(X, augment)")
    lines.append("X, y = X.to(device), y.to(device)")
    if t.precision == "bf16":
        lines += ["with torch.autocast(device.type, dtype=torch.bfloat16):", "    y_hat = net(X)",
                  "    l = loss(y_hat.float(), y)"]
    else:
        lines += ["y_hat = net(X)", "l = loss(y_hat, y)"]
    lines += ["l.backward()", "optimizer.step()"]
    if _scheduled(t):
        lines.append("step += 1")
    return indent("\n".join(lines), " " * 12)


def _train(config: RunConfig) -> str:
    t = config.train
    smoothing = "label_smoothing=label_smoothing" if t.label_smoothing else ""
    scheduled = _scheduled(t)
    setup = ["net.to(device)", f"optimizer = {_optimizer(config)}", f"loss = nn.CrossEntropyLoss({smoothing})"]
    if t.augment == "flip-shift":
        setup.append("augment = torch.Generator().manual_seed(seed + 1)")
    setup.append("train_time" + (", step" if scheduled else "") + " = 0.0" + (", 0" if scheduled else ""))
    body = "\n".join(["    " + s for s in setup])
    return f'''def train(net, train_iter, test_iter, num_epochs, device):
    """d2l's train_ch6 without its plot: train loss and accuracy over each epoch, test accuracy after it."""
    print('training on', device)
{body}
    for epoch in range(num_epochs):
        metric = [0.0, 0.0, 0]  # sum of losses, correct predictions, examples
        net.train()
        for X, y in train_iter:
            start = time.time()
{_step(config)}
            with torch.no_grad():
                metric[0] += float(l) * X.shape[0]
                metric[1] += accuracy(y_hat, y)
                metric[2] += X.shape[0]
            train_time += time.time() - start
        train_l, train_acc = metric[0] / metric[2], metric[1] / metric[2]
        test_acc = evaluate_accuracy(net, test_iter, device)
        print(f'epoch {{epoch + 1}}: loss {{train_l:.3f}}, train acc {{train_acc:.3f}}, test acc {{test_acc:.3f}}')
    print(f'loss {{train_l:.3f}}, train acc {{train_acc:.3f}}, test acc {{test_acc:.3f}}')
    print(f'{{metric[2] * num_epochs / train_time:.1f}} examples/sec on {{str(device)}}')'''


def _main(config: RunConfig) -> str:
    device = config.train.device
    chosen = "try_gpu()" if device == "auto" else f"torch.device({device!r})"
    return f'''def try_gpu():
    return torch.device('cuda:0') if torch.cuda.is_available() else torch.device('cpu')


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-root', help='a folder holding Fashion-MNIST (default: where the dashboard looks)')
    parser.add_argument('--shapes-only', action='store_true', help="print the network's shapes and stop")
    args = parser.parse_args()
    print_shapes()
    if not args.shapes_only:
        train_iter, test_iter = load_data_fashion_mnist(batch_size, resize, args.data_root)
        train(net, train_iter, test_iter, num_epochs, {chosen})'''

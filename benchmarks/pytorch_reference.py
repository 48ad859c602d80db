r"""PyTorch reference of ONE's CIFAR ResNet: throughput and training.

The same network as `one_keras.methods.one.build_one_resnet` (post-activation
ResNet, 1x1 conv + BN shortcuts, stage 3 + classifier per branch, the gate of
the paper, Kaiming fan-out conv init, PyTorch's default Linear init) and the
same step (ONE loss at T=3, SGD Nesterov momentum 0.9, coupled weight decay
1e-4), written the way the authors' code is: NCHW, eager PyTorch. PyTorch is
not a dependency of one_keras: run this file with an interpreter that has it
(docs/pytorch_parity.md says how to make one).

Throughput (used by `benchmarks/throughput.py --torch_python`):

  python benchmarks/pytorch_reference.py --depth 32 --num_branches 3

Training on an image folder with one_keras' recipe (data, augmentation,
schedule, weight decay, loss, report.json and log.csv like
`python -m one_keras.train --dataset image_folder`); resumable:

  python benchmarks/pytorch_reference.py train --data_dir D --depth 20 \
      --num_branches 3 --epochs 30 --batch_size 64 --seed 0 --output_dir OUT
"""

import argparse
import csv
import json
import os
import platform
import sys
import time


if len(sys.argv) > 1 and sys.argv[1] == "train":
    # On a shared, oversubscribed CPU, OpenMP's spinning workers cost 5x the
    # CPU time of a step (measured); waiting passively keeps a run fair.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402


IMAGENET_MEAN = (0.485, 0.456, 0.406)  # one_keras IMAGENET_NORMALIZATION.
IMAGENET_STD = (0.229, 0.224, 0.225)
EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")  # As image_folder.
AUGMENTATIONS = ("pad_crop_flip", "flip", "none")
MOMENTUM_FORMS = ("pytorch", "keras")


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                nn.BatchNorm2d(planes))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


def stage(in_planes, planes, blocks, stride):
    layers = []
    for index in range(blocks):
        layers.append(BasicBlock(in_planes, planes,
                                 stride if index == 0 else 1))
        in_planes = planes
    return nn.Sequential(*layers)


class ONEResNet(nn.Module):
    """Trunk (stem, stages 1-2), `num_branches` x (stage 3 + FC), gate.

    As `one_keras.methods.one.build_one_resnet`: the gate pools the trunk output
    (stage 2), convolutions start He-normal with fan-out, Linear layers and
    BatchNorm keep PyTorch's defaults (Keras' are set to match them).
    """

    def __init__(self, depth, num_classes, num_branches, width=16):
        super().__init__()
        blocks = (depth - 2) // 6
        self.trunk = nn.Sequential(
            nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(), stage(width, width, blocks, 1),
            stage(width, 2 * width, blocks, 2))
        self.branches = nn.ModuleList([
            nn.Sequential(stage(2 * width, 4 * width, blocks, 2),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4 * width, num_classes))
            for _ in range(num_branches)])
        self.gate = None
        if num_branches > 1:
            self.gate = nn.Sequential(
                nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                nn.Linear(2 * width, num_branches),
                nn.BatchNorm1d(num_branches), nn.ReLU(), nn.Softmax(dim=1))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out",
                                        nonlinearity="relu")

    def forward(self, x):
        features = self.trunk(x)
        logits = torch.stack([b(features) for b in self.branches], dim=1)
        if self.gate is None:
            return logits, logits[:, 0]
        gate = self.gate(features)
        return logits, torch.einsum("bm,bmc->bc", gate, logits)


def one_loss_terms(labels, branch_logits, teacher_logits, temperature=3.0):
    """`(ce, kl)` batch means as `one_keras.methods.one.loss.one_loss_terms`."""
    num_branches = branch_logits.shape[1]
    ce = sum(F.cross_entropy(branch_logits[:, i], labels)
             for i in range(num_branches))
    if num_branches == 1:
        return ce, torch.zeros_like(ce)
    ce = ce + F.cross_entropy(teacher_logits, labels)
    log_p_teacher = F.log_softmax(teacher_logits.detach() / temperature, 1)
    kl = sum(F.kl_div(F.log_softmax(branch_logits[:, i] / temperature, 1),
                      log_p_teacher, reduction="batchmean", log_target=True)
             for i in range(num_branches))
    return ce, temperature ** 2 * kl


def one_loss(labels, branch_logits, teacher_logits, temperature=3.0):
    ce, kl = one_loss_terms(labels, branch_logits, teacher_logits,
                            temperature)
    return ce + kl


def images_per_second(depth, num_classes, num_branches, batch_size, steps,
                      warmup, rounds, device="cpu", amp=False,
                      channels_last=False, compiled=False):
    """Training images/s, one value a round, on random data.

    Args:
        depth, num_classes, num_branches: the network.
        batch_size, steps, warmup, rounds: the timing.
        device: str. `"cpu"` or `"cuda"`.
        amp: bool. bfloat16 autocast (CUDA's mixed precision).
        channels_last: bool. NHWC memory format.
        compiled: bool. `torch.compile` the training step.

    Returns:
        A list of floats.
    """
    torch.manual_seed(0)
    model = ONEResNet(depth, num_classes, num_branches).train().to(device)
    memory_format = (torch.channels_last if channels_last
                     else torch.contiguous_format)
    model = model.to(memory_format=memory_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9,
                                nesterov=True, weight_decay=1e-4)
    images = torch.randn(batch_size, 3, 32, 32, device=device).to(
        memory_format=memory_format)
    labels = torch.randint(0, num_classes, (batch_size,), device=device)

    def loss_of(images, labels):
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16,
                            enabled=amp):
            branch_logits, teacher_logits = model(images)
        return one_loss(labels, branch_logits.float(), teacher_logits.float())

    forward = torch.compile(loss_of) if compiled else loss_of

    def step():
        optimizer.zero_grad(set_to_none=True)
        forward(images, labels).backward()
        optimizer.step()

    def synchronize():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for _ in range(warmup):
        step()
    synchronize()
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        synchronize()
        rates.append(batch_size * steps / (time.perf_counter() - start))
    return rates


# ---------------------------------------------------------------- training


def list_split(directory, classes):
    """`(paths, labels)` of one split, in one_keras' (sorted) order."""
    paths, labels = [], []
    for label, name in enumerate(classes):
        folder = os.path.join(directory, name)
        if not os.path.isdir(folder):
            continue
        for file in sorted(os.listdir(folder)):
            if file.lower().endswith(EXTENSIONS):
                paths.append(os.path.join(folder, file))
                labels.append(label)
    return paths, labels


def decode(paths, size):
    """Decodes images with PIL to `(n, size, size, 3)` uint8.

    Images of another size are resized bilinearly (PIL antialiases when
    shrinking, as one_keras' `tf.image.resize(antialias=True)`).
    """
    from PIL import Image

    images = np.empty((len(paths), size, size, 3), np.uint8)
    for index, path in enumerate(paths):
        with Image.open(path) as image:
            image = image.convert("RGB")
            if image.size != (size, size):
                image = image.resize((size, size), Image.BILINEAR)
            images[index] = np.asarray(image)
    return images


def load_image_folder(data_dir, size):
    """`DIR/train/<class>/*` and `DIR/test/<class>/*` (or val/) as arrays.

    Returns:
        A dict with `classes` and `train`/`test` `(uint8 NHWC, int64)` pairs.
    """
    train_dir = os.path.join(data_dir, "train")
    test_dir = os.path.join(data_dir, "test")
    if not os.path.isdir(test_dir):
        test_dir = os.path.join(data_dir, "val")
    if not os.path.isdir(train_dir) or not os.path.isdir(test_dir):
        raise SystemExit(f"error: --data_dir={data_dir} must hold "
                         "train/<class>/<image> and test/<class>/<image>.")
    classes = sorted(d for d in os.listdir(train_dir)
                     if os.path.isdir(os.path.join(train_dir, d)))
    data = {"classes": classes}
    for split, directory in (("train", train_dir), ("test", test_dir)):
        paths, labels = list_split(directory, classes)
        if not paths:
            raise SystemExit(f"error: no images in {directory}/<class>/.")
        data[split] = (decode(paths, size), np.asarray(labels, np.int64))
    return data


def normalize(images):
    """Raw 0-255 NCHW float pixels -> `(x / 255 - mean) / std`."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images / 255.0 - mean) / std


def augment(images, augmentation, generator, padding=4):
    """one_keras' recipe on a raw batch, NCHW float in [0, 255].

    `pad_crop_flip` zero-pads raw pixels (black, before normalisation, as
    `one_keras.data.preprocessing.pad_crop_flip`), crops back at a uniform
    offset in [0, 2 * padding] and flips half the images left-right.
    """
    if augmentation == "none":
        return images
    batch, _, height, width = images.shape
    flips = torch.rand(batch, generator=generator) < 0.5
    if augmentation == "flip":
        return torch.where(flips.view(-1, 1, 1, 1), images.flip(-1), images)
    padded = F.pad(images, (padding, padding, padding, padding))
    offsets = torch.randint(0, 2 * padding + 1, (batch, 2),
                            generator=generator)
    out = torch.empty_like(images)
    for index in range(batch):
        top, left = offsets[index].tolist()
        crop = padded[index, :, top:top + height, left:left + width]
        out[index] = crop.flip(-1) if flips[index] else crop
    return out


def to_batch(images):
    """uint8 NHWC numpy -> float NCHW tensor of raw pixels."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float()


def step_lr(lr, step, total_steps):
    """one_keras.training.experiment.step_schedule: Keras' PiecewiseConstantDecay at the
    optimizer's iteration count `step` (0-based), boundaries total // 2 and
    3 * total // 4 (a step equal to a boundary still takes the higher lr)."""
    boundaries = [max(1, total_steps // 2), max(2, (3 * total_steps) // 4)]
    if step <= boundaries[0]:
        return lr
    if step <= boundaries[1]:
        return lr * 0.1
    return lr * 0.01


def set_lr(optimizer, new_lr, momentum_form):
    """Sets the learning rate. `momentum_form="keras"` rescales the momentum
    buffers so that the update continues as Keras' SGD does: Keras keeps the
    velocity `v = m v - lr g` (lr inside), PyTorch `buf = m buf + g` (lr
    outside); after a drop from `lr0` to `lr1` Keras' velocity still holds
    steps of size `lr0`, i.e. PyTorch's buffer times `lr0 / lr1`."""
    for group in optimizer.param_groups:
        old_lr = group["lr"]
        if old_lr == new_lr:
            continue
        if momentum_form == "keras":
            for parameter in group["params"]:
                buffer = optimizer.state.get(parameter, {}).get(
                    "momentum_buffer")
                if buffer is not None:
                    buffer.mul_(old_lr / new_lr)
        group["lr"] = new_lr


def weight_decay_term(model, weight_decay):
    """`(wd / 2) * sum(w^2)`: the part of Keras' logged loss that PyTorch's
    SGD `weight_decay` applies only to the gradient."""
    with torch.no_grad():
        # One device-to-host read a step (a GPU run would wait once per
        # weight otherwise); summed in float64 as Python floats were.
        return 0.5 * weight_decay * float(sum(
            p.double().pow(2).sum() for p in model.parameters()))


class Accuracies:
    """Per-sample accuracy of every branch and the teacher."""

    def __init__(self, num_branches):
        self.correct = np.zeros(num_branches + 1)
        self.count = 0

    def update(self, labels, branch_logits, teacher_logits):
        predictions = torch.cat([branch_logits.argmax(-1),
                                 teacher_logits.argmax(-1)[:, None]], 1)
        self.correct += (
            (predictions == labels[:, None]).sum(0).cpu().numpy())
        self.count += len(labels)

    def logs(self, prefix=""):
        values = self.correct / max(self.count, 1)
        logs = {f"{prefix}branch_{i}_accuracy": float(v)
                for i, v in enumerate(values[:-1])}
        logs[f"{prefix}teacher_accuracy"] = float(values[-1])
        return logs


def evaluate(model, images, labels, args, prefix="val_"):
    """Keras `evaluate` of a ONEModel: batch-mean losses averaged over
    batches (weight decay included in `loss`), per-sample accuracies."""
    model.eval()
    accuracies = Accuracies(args.num_branches)
    sums = np.zeros(2)
    batches = 0
    decay = weight_decay_term(model, args.weight_decay)
    with torch.no_grad():
        for start in range(0, len(labels), args.eval_batch_size):
            x = normalize(to_batch(
                images[start:start + args.eval_batch_size])).to(args.device)
            y = torch.from_numpy(
                labels[start:start + args.eval_batch_size]).to(args.device)
            branch_logits, teacher_logits = model(x)
            ce, kl = one_loss_terms(y, branch_logits, teacher_logits,
                                    args.temperature)
            sums += [float(ce), float(kl)]
            batches += 1
            accuracies.update(y, branch_logits, teacher_logits)
    ce, kl = sums / batches
    logs = {f"{prefix}ce": ce, f"{prefix}kl": kl,
            f"{prefix}loss": ce + kl + decay}
    logs.update(accuracies.logs(prefix))
    return logs


def train_epoch(model, optimizer, data, epoch, step, total_steps, args):
    """One pass over the whole shuffled training split, last batch kept."""
    images, labels = data["train"]
    generator = torch.Generator().manual_seed(args.seed * 1_000_003 + epoch)
    order = torch.randperm(len(labels), generator=generator).numpy()
    model.train()
    accuracies = Accuracies(args.num_branches)
    sums = np.zeros(3)
    batches = 0
    for start in range(0, len(order), args.batch_size):
        index = order[start:start + args.batch_size]
        # Augmented on the CPU with the seeded generator on every device.
        x = normalize(augment(to_batch(images[index]), args.augment,
                              generator)).to(args.device)
        y = torch.from_numpy(labels[index]).to(args.device)
        set_lr(optimizer, step_lr(args.lr, step, total_steps),
               args.momentum_form)
        optimizer.zero_grad(set_to_none=True)
        branch_logits, teacher_logits = model(x)
        ce, kl = one_loss_terms(y, branch_logits, teacher_logits,
                                args.temperature)
        (ce + kl).backward()
        # Keras logs the loss with the decay term of the weights it used.
        decay = weight_decay_term(model, args.weight_decay)
        optimizer.step()
        step += 1
        ce, kl = ce.item(), kl.item()
        sums += [ce + kl + decay, ce, kl]
        batches += 1
        accuracies.update(y, branch_logits.detach(), teacher_logits.detach())
    loss, ce, kl = sums / batches
    logs = {"loss": loss, "ce": ce, "kl": kl}
    logs.update(accuracies.logs())
    return logs, step


# What a run trains: a resume must keep every one of these.
TRAINING_SETTINGS = ("image_size", "augment", "depth", "width",
                     "num_branches", "temperature", "epochs", "batch_size",
                     "eval_batch_size", "lr", "momentum", "nesterov",
                     "weight_decay", "seed", "momentum_form")
# Where it runs: a resume may change these (another device, a moved folder).
PLACEMENT_SETTINGS = ("data_dir", "threads", "device", "output_dir")


def run_config(args):
    """The run's settings, named as one_keras' `TrainConfig` where they
    apply."""
    config = {key: getattr(args, key)
              for key in TRAINING_SETTINGS + PLACEMENT_SETTINGS}
    config.update({"dataset": "image_folder", "backbone": "resnet",
                   "block": "basic", "gate": "learned", "recipe": "paper",
                   "method": "vanilla" if args.num_branches == 1 else "one"})
    return config


def atomic_write(path, write):
    temporary = f"{path}.tmp"
    write(temporary)
    os.replace(temporary, path)


def write_json(path, payload):
    def write(temporary):
        with open(temporary, "w") as handle:
            json.dump(payload, handle, indent=2, sort_keys=True)
    atomic_write(path, write)


def write_log(path, rows):
    """log.csv as Keras' CSVLogger writes it: `epoch`, then sorted keys."""
    def write(temporary):
        keys = sorted(rows[0]) if rows else []
        with open(temporary, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["epoch"] + keys)
            for epoch, row in enumerate(rows):
                writer.writerow([epoch] + [row[key] for key in keys])
    atomic_write(path, write)


def device_name(device):
    """`cpu`, or the GPU's name (e.g. `NVIDIA H200`)."""
    if str(device).startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return "cpu"


def count(parameters):
    return int(sum(p.numel() for p in parameters))


def train(args):
    """Trains (or resumes) one run and writes its report; see `main`."""
    torch.set_num_threads(args.threads)
    report_path = os.path.join(args.output_dir, "report.json")
    checkpoint_path = os.path.join(args.output_dir, "checkpoint.pt")
    config = run_config(args)
    if os.path.exists(report_path):
        print(f"{report_path} exists: the run is finished, not retrained.")
        return
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    data = load_image_folder(args.data_dir, args.image_size)
    os.makedirs(args.output_dir, exist_ok=True)
    num_classes = len(data["classes"])
    model = ONEResNet(args.depth, num_classes, args.num_branches,
                      args.width).to(args.device)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=args.lr, momentum=args.momentum,
        nesterov=args.nesterov, weight_decay=args.weight_decay)
    steps_per_epoch = -(-len(data["train"][1]) // args.batch_size)
    total_steps = steps_per_epoch * args.epochs
    state = {"epoch": 0, "step": 0, "rows": [], "train_seconds": 0.0}
    if os.path.exists(checkpoint_path):
        checkpoint = torch.load(checkpoint_path, weights_only=False,
                                map_location=args.device)
        saved = dict(checkpoint["config"])
        if "model" in saved:  # A checkpoint of before the rename.
            saved.setdefault("backbone", saved.pop("model"))
        changed = sorted(k for k in config
                         if k not in PLACEMENT_SETTINGS
                         and saved.get(k) != config[k])
        if changed:
            raise SystemExit(
                f"error: {args.output_dir} holds an unfinished run with other "
                f"settings ({', '.join(changed)}); use another --output_dir.")
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        torch.set_rng_state(checkpoint["torch_rng"].cpu())
        np.random.set_state(checkpoint["numpy_rng"])
        state = checkpoint["state"]
        print(f"resuming at epoch {state['epoch'] + 1}")
    resumed_at = state["epoch"]
    write_json(os.path.join(args.output_dir, "config.json"), config)
    images, labels = data["test"]
    while state["epoch"] < args.epochs:
        start = time.perf_counter()
        logs, state["step"] = train_epoch(model, optimizer, data,
                                          state["epoch"], state["step"],
                                          total_steps, args)
        state["train_seconds"] += time.perf_counter() - start
        logs.update(evaluate(model, images, labels, args))
        if not np.isfinite(logs["loss"]):
            raise SystemExit(f"error: the loss is {logs['loss']} at epoch "
                             f"{state['epoch'] + 1}; not saved.")
        state["rows"].append(logs)
        state["epoch"] += 1
        atomic_write(checkpoint_path, lambda path: torch.save({
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": np.random.get_state(), "state": state,
            "config": config}, path))
        write_log(os.path.join(args.output_dir, "log.csv"), state["rows"])
        print(f"epoch {state['epoch']}/{args.epochs} "
              + " ".join(f"{k}={v:.4f}" for k, v in sorted(logs.items())),
              flush=True)
    final = evaluate(model, images, labels, args, prefix="")
    branches = [final[f"branch_{i}_accuracy"]
                for i in range(args.num_branches)]
    target = [*model.trunk.parameters(), *model.branches[0].parameters()]
    images_trained = (args.epochs - resumed_at) * len(data["train"][1])
    report = {
        "target_accuracy": branches[0],
        "ensemble_accuracy": final["teacher_accuracy"],
        "branch_accuracy": branches,
        "branch_accuracy_mean": float(np.mean(branches)),
        "branch_accuracy_std": float(np.std(branches)),
        "method": config["method"], "dataset": "image_folder",
        "augment": args.augment, "recipe": "paper", "seed": args.seed,
        "epochs": args.epochs, "resumed_at_epoch": resumed_at,
        "num_train": int(len(data["train"][1])),
        "num_test": int(len(labels)),
        # Time of every sitting (evaluation excluded); Keras' includes its
        # per-epoch evaluation of the test split.
        "train_seconds": round(state["train_seconds"], 2),
        "images_per_second": round(
            images_trained / max(state["train_seconds"], 1e-9), 1),
        "params_target": count(target),
        "params_train": count(model.parameters()),
        "config": config, "framework": "pytorch",
        "device": device_name(args.device),
        "versions": {"torch": torch.__version__,
                     "numpy": np.__version__,
                     "python": platform.python_version()},
    }
    write_json(report_path, report)
    print(json.dumps({k: report[k] for k in (
        "target_accuracy", "ensemble_accuracy", "branch_accuracy",
        "train_seconds")}))


def parse_train(argv):
    parser = argparse.ArgumentParser(
        prog="pytorch_reference.py train",
        description="Train ONE (or vanilla) on an image folder, one_keras' "
        "recipe, in PyTorch.")
    parser.add_argument("--data_dir", required=True,
                        help="Holds train/<class>/* and test/<class>/*.")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--image_size", type=int, default=32)
    parser.add_argument("--augment", choices=AUGMENTATIONS,
                        default="pad_crop_flip")
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--num_branches", type=int, default=3,
                        help="1 trains the vanilla network (plain CE).")
    parser.add_argument("--temperature", type=float, default=3.0)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--eval_batch_size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--nesterov", type=int, default=1, choices=(0, 1))
    parser.add_argument("--weight_decay", type=float, default=1e-4)
    parser.add_argument("--momentum_form", choices=MOMENTUM_FORMS,
                        default="pytorch",
                        help="keras: carry the velocity across lr drops as "
                        "Keras' SGD does.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu",
                        help="cpu, or cuda (a GPU) to train there; the "
                        "augmentation stays on the CPU either way.")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device={args.device}: this PyTorch sees no GPU; "
                     "use --device=cpu.")
    args.nesterov = bool(args.nesterov)
    if args.depth < 8 or (args.depth - 2) % 6:
        parser.error("--depth must be 6n+2 (8, 14, 20, 32, ...)")
    if args.num_branches < 1 or args.epochs < 1 or args.batch_size < 1:
        parser.error("--num_branches, --epochs and --batch_size must be >= 1")
    return args


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "train":
        train(parse_train(sys.argv[2:]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=32)
    parser.add_argument("--num_classes", type=int, default=100)
    parser.add_argument("--num_branches", type=int, nargs="+",
                        default=[1, 3])
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu or cuda.")
    parser.add_argument("--amp", action="store_true",
                        help="bfloat16 autocast.")
    parser.add_argument("--channels_last", action="store_true")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the step.")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device={args.device}: this PyTorch sees no GPU; "
                     "use --device=cpu.")
    results = {
        str(branches): images_per_second(
            args.depth, args.num_classes, branches, args.batch_size,
            args.steps, args.warmup, args.rounds, device=args.device,
            amp=args.amp, channels_last=args.channels_last,
            compiled=args.compile)
        for branches in args.num_branches}
    print(json.dumps({"framework": f"pytorch {torch.__version__}",
                      "threads": torch.get_num_threads(),
                      "device": device_name(args.device),
                      "amp": args.amp, "channels_last": args.channels_last,
                      "compile": args.compile,
                      "images_per_second": results}))


if __name__ == "__main__":
    main()

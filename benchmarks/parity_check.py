r"""Keras-vs-PyTorch parity of one ONE training run, step by step.

  python benchmarks/parity_check.py --torch_python /work/torchvenv/bin/python \
      --data_dir IMAGE_FOLDER [--depth 8] [--steps 20] [--batch_size 32]

Run with the one_keras environment. It builds the Keras ONE ResNet
(`one_keras.methods.one.build_one_resnet`, 3 branches, 32x32), copies its initial
weights into `benchmarks/pytorch_reference.py`'s `ONEResNet` (NHWC kernels
to NCHW, BatchNorm moving statistics), trains both for `--steps` SGD steps
on the same fixed, normalised, unaugmented batches with the same learning
rates (one_keras' step schedule: two drops inside the run), and compares
the loss of every step, the logits (training- and inference-mode forward)
and the weights. PyTorch runs in `--torch_python` (a subprocess; the two
exchange `.npz` files); float64 PyTorch is the yardstick of float32 noise.
It also checks one_keras' input pipeline (augmentation, epoch composition,
JPEG decoding). Writes `parity.json` and prints a summary.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np


HERE = os.path.dirname(os.path.abspath(__file__))


# ------------------------------------------------------------------ torch side


def torch_worker(input_path, output_path):
    """Runs in the PyTorch interpreter: trains the copied network."""
    import torch

    sys.path.insert(0, HERE)
    import pytorch_reference as ref

    torch.set_num_threads(1)
    data = np.load(input_path)
    config = json.loads(str(data["config"]))
    dtype = {"float32": torch.float32, "float64": torch.float64}[
        config["dtype"]]
    model = ref.ONEResNet(config["depth"], config["num_classes"],
                          config["num_branches"]).to(dtype)
    state = model.state_dict()
    for key in state:
        if f"w:{key}" in data:
            state[key] = torch.from_numpy(data[f"w:{key}"]).to(dtype)
    model.load_state_dict(state)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config["lr"][0], momentum=0.9, nesterov=True,
        weight_decay=config["weight_decay"])

    def nchw(array):
        return torch.from_numpy(array).permute(0, 3, 1, 2).to(dtype)

    def forward(images, training):
        saved = {k: v.clone() for k, v in model.state_dict().items()}
        model.train(training)
        with torch.no_grad():
            logits, teacher = model(nchw(images))
            gate = model.gate(model.trunk(nchw(images)))
        model.load_state_dict(saved)  # A training forward moves BN stats.
        return [t.double().numpy() for t in (logits, teacher, gate)]

    out = {}
    probe = data["probe"]
    for mode in ("train", "eval"):
        out[f"init_{mode}_logits"], out[f"init_{mode}_teacher"], \
            out[f"init_{mode}_gate"] = forward(probe, mode == "train")
    losses = []
    model.train()
    for step, (images, labels) in enumerate(zip(data["x"], data["y"])):
        ref.set_lr(optimizer, config["lr"][step], config["momentum_form"])
        optimizer.zero_grad(set_to_none=True)
        branch_logits, teacher_logits = model(nchw(images))
        ce, kl = ref.one_loss_terms(torch.from_numpy(labels).long(),
                                    branch_logits, teacher_logits)
        (ce + kl).backward()
        decay = ref.weight_decay_term(model, config["weight_decay"])
        optimizer.step()
        losses.append([ce.item() + kl.item() + decay, ce.item(), kl.item()])
    out["losses"] = np.asarray(losses)
    for mode in ("train", "eval"):
        out[f"final_{mode}_logits"], out[f"final_{mode}_teacher"], \
            out[f"final_{mode}_gate"] = forward(probe, mode == "train")
    for key, value in model.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            out[f"w:{key}"] = value.double().numpy()
    fresh = ref.ONEResNet(config["depth"], config["num_classes"],
                          config["num_branches"])
    out["init_stats"] = np.asarray(init_stats(
        (k, v.numpy()) for k, v in fresh.state_dict().items()
        if k.endswith("weight") and v.dim() in (2, 4)))
    np.savez(output_path, **out)


def init_stats(named_kernels):
    """`(std / expected std)` of every conv and dense kernel, torch layout
    (`out, in, kh, kw`) or Keras layout (`kh, kw, in, out`) flagged by name."""
    ratios = []
    for name, kernel in named_kernels:
        if kernel.ndim == 4:
            if name.startswith("k:"):  # Keras kernel: fan_out = kh kw out.
                fan_out = kernel.shape[0] * kernel.shape[1] * kernel.shape[3]
            else:
                fan_out = kernel.shape[0] * kernel.shape[2] * kernel.shape[3]
            expected = (2.0 / fan_out) ** 0.5
        else:  # Dense: U(+-1/sqrt(fan_in)), std = 1/sqrt(3 fan_in).
            fan_in = kernel.shape[0] if name.startswith("k:") else \
                kernel.shape[1]
            expected = (1.0 / (3.0 * fan_in)) ** 0.5
        ratios.append(float(np.std(kernel)) / expected)
    return ratios


# ------------------------------------------------------------------ keras side


def torch_key(keras_name):
    """Keras layer name -> PyTorch module path in `ONEResNet`."""
    parts = {"conv1": "conv1", "bn1": "bn1", "conv2": "conv2", "bn2": "bn2",
             "shortcut_conv": "shortcut.0", "shortcut_bn": "shortcut.1"}
    fixed = {"stem_conv": "trunk.0", "stem_bn": "trunk.1",
             "gate_dense": "gate.2", "gate_bn": "gate.3"}
    if keras_name in fixed:
        return fixed[keras_name]
    match = re.fullmatch(r"branch(\d+)_logits", keras_name)
    if match:
        return f"branches.{match[1]}.3"
    match = re.fullmatch(r"stage([12])_block(\d+)_(\w+)", keras_name)
    if match:
        return f"trunk.{2 + int(match[1])}.{int(match[2]) - 1}." \
            f"{parts[match[3]]}"
    match = re.fullmatch(r"branch(\d+)_stage3_block(\d+)_(\w+)", keras_name)
    if match:
        return f"branches.{match[1]}.0.{int(match[2]) - 1}.{parts[match[3]]}"
    raise ValueError(f"no PyTorch name for Keras layer {keras_name}")


def keras_to_torch(network):
    """Every weight of the Keras network under its PyTorch state_dict key."""
    weights = {}
    for layer in network.layers:
        if not layer.weights:
            continue
        key = torch_key(layer.name)
        values = [np.asarray(w.numpy(), np.float64) for w in layer.weights]
        if len(values) == 1:  # Conv kernel (kh, kw, in, out).
            weights[f"{key}.weight"] = values[0].transpose(3, 2, 0, 1)
        elif len(values) == 2:  # Dense kernel (in, out) and bias.
            weights[f"{key}.weight"] = values[0].T
            weights[f"{key}.bias"] = values[1]
        else:  # BatchNorm: gamma, beta, moving mean, moving variance.
            for name, value in zip(("weight", "bias", "running_mean",
                                    "running_var"), values):
                weights[f"{key}.{name}"] = value
    return weights


def build_keras(depth, batch_norm):
    """The Keras ONE ResNet; `batch_norm="keras"` swaps in the plain layer."""
    import keras

    from one_keras.methods.one import build_one_resnet
    from one_keras.models import resnet_cifar

    original = resnet_cifar.batch_norm
    if batch_norm == "keras":
        resnet_cifar.batch_norm = lambda name: \
            keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5,
                                            name=name)
    try:
        return build_one_resnet(depth=depth, num_classes=10, num_branches=3,
                                input_shape=(32, 32, 3), weight_decay=1e-4)
    finally:
        resnet_cifar.batch_norm = original


def keras_run(model, initial, x, y, probe, steps, lr):
    """Trains `model` with `fit`'s step; returns what the torch worker does.
    """
    import keras

    from one_keras.training.experiment import step_schedule

    network = model.network
    network.set_weights(initial)
    model.compile(optimizer=keras.optimizers.SGD(
        step_schedule(lr, steps), momentum=0.9, nesterov=True))

    def forward(training):
        saved = network.get_weights()
        out = network(probe, training=training)
        network.set_weights(saved)
        return [np.asarray(out[k], np.float64)
                for k in ("branch_logits", "teacher_logits", "gate")]

    result = {}
    for mode in ("train", "eval"):
        result[f"init_{mode}_logits"], result[f"init_{mode}_teacher"], \
            result[f"init_{mode}_gate"] = forward(mode == "train")
    losses = []
    for images, labels in zip(x, y):
        logs = model.train_on_batch(images, labels, return_dict=True)
        losses.append([logs["loss"], logs["ce"], logs["kl"]])
    result["losses"] = np.asarray(losses)
    for mode in ("train", "eval"):
        result[f"final_{mode}_logits"], result[f"final_{mode}_teacher"], \
            result[f"final_{mode}_gate"] = forward(mode == "train")
    result.update({f"w:{k}": v
                   for k, v in keras_to_torch(network).items()})
    return result


def run_torch(torch_python, weights, x, y, probe, lrs, dtype,
              momentum_form, depth, workdir):
    """Runs `torch_worker` in `torch_python`; returns its outputs."""
    tag = f"{dtype}_{momentum_form}"
    input_path = os.path.join(workdir, f"in_{tag}.npz")
    output_path = os.path.join(workdir, f"out_{tag}.npz")
    config = {"dtype": dtype, "momentum_form": momentum_form,
              "depth": depth, "num_classes": 10, "num_branches": 3,
              "lr": [float(v) for v in lrs], "weight_decay": 1e-4}
    np.savez(input_path, config=json.dumps(config), x=x, y=y, probe=probe,
             **{f"w:{k}": v for k, v in weights.items()})
    subprocess.run([torch_python, os.path.abspath(__file__), "--worker",
                    input_path, output_path], check=True)
    with np.load(output_path) as data:
        return {k: data[k] for k in data.files}


def max_diff(a, b):
    """`(max |a - b|, max |a - b| / max |b|)`."""
    diff = float(np.max(np.abs(a - b)))
    return diff, diff / max(float(np.max(np.abs(b))), 1e-12)


def compare(run, reference):
    """Differences between two runs' outputs (`reference`: the yardstick)."""
    report = {}
    for phase in ("init", "final"):
        for mode in ("train", "eval"):
            for part in ("logits", "teacher", "gate"):
                key = f"{phase}_{mode}_{part}"
                report[key] = max_diff(run[key], reference[key])
    loss = np.abs(run["losses"] - reference["losses"])
    report["loss_abs_diff_per_step"] = [float(v) for v in loss[:, 0]]
    groups = {"trainable": [], "moving_mean": [], "moving_var": []}
    for key in reference:
        if not key.startswith("w:"):
            continue
        group = ("moving_mean" if key.endswith("running_mean") else
                 "moving_var" if key.endswith("running_var") else
                 "trainable")
        change = np.abs(run[key] - reference[key])
        groups[group].append((float(change.max()),
                              float(np.linalg.norm(run[key] - reference[key])
                                    / max(np.linalg.norm(reference[key]),
                                          1e-12)), key))
    trainable = [k for k in reference if k.startswith("w:") and
                 not k.endswith(("running_mean", "running_var"))]
    report["weights_trainable_global_rel"] = float(np.sqrt(sum(
        np.sum((run[k] - reference[k]) ** 2) for k in trainable)) / np.sqrt(
        sum(np.sum(reference[k] ** 2) for k in trainable)))
    for group, values in groups.items():
        worst_abs = max(values)
        worst_rel = max(values, key=lambda v: v[1])
        report[f"weights_{group}"] = {
            "max_abs": worst_abs[0], "max_abs_at": worst_abs[2],
            "max_rel_norm": worst_rel[1], "max_rel_at": worst_rel[2]}
    return report


def check_pipeline(dataset, batch_size):
    """one_keras' training input: what augmentation and batching do."""
    import tensorflow as tf

    from one_keras import data as data_lib

    raw = next(iter(dataset.train_source.take(1)))[0]
    raw = tf.cast(dataset.eval_transform(raw), tf.float32).numpy()
    padded = np.pad(raw, ((4, 4), (4, 4), (0, 0)))
    offsets, flips, unmatched = [], [], 0
    for index in range(200):
        seed = tf.constant([7, index], tf.int64)
        out = dataset.augment(raw, seed).numpy()
        found = None
        for top in range(9):
            for left in range(9):
                crop = padded[top:top + 32, left:left + 32]
                for flip in (False, True):
                    candidate = crop[:, ::-1] if flip else crop
                    if np.array_equal(candidate, out):
                        found = (top, left, flip)
        if found is None:
            unmatched += 1
            continue
        offsets += found[:2]
        flips.append(found[2])
    pipe = data_lib.train_pipeline(dataset, batch_size, seed=0, epochs=1)
    sizes, labels, pixel_means = [], [], []
    for images, batch_labels in pipe:
        sizes.append(int(images.shape[0]))
        labels += batch_labels.numpy().tolist()
        pixel_means.append(float(np.mean(images.numpy())))
    counts = np.bincount(labels, minlength=dataset.num_classes).tolist()
    return {
        "augment_recipe": dataset.augmentation,
        "augment_unmatched_by_zero_pad_crop_flip": unmatched,
        "crop_offset_mean (uniform 0..8: 4)": float(np.mean(offsets)),
        "crop_offsets_seen": sorted(set(offsets)),
        "flip_fraction": float(np.mean(flips)),
        "epoch_batches": len(sizes), "last_batch": sizes[-1],
        "epoch_images": sum(sizes), "num_train": dataset.num_train,
        "epoch_label_counts": counts,
        "mean_normalised_pixel": float(np.mean(pixel_means)),
    }


def check_decoding(data_dir, limit=200):
    """JPEG decoding: TF's default (one_keras) vs accurate IDCT vs PIL."""
    import glob

    import tensorflow as tf

    paths = sorted(glob.glob(os.path.join(data_dir, "train", "*", "*.jpg")))
    paths = paths[::max(1, len(paths) // limit)][:limit]
    if not paths:
        return {"jpeg_files": 0}
    fast_vs_accurate, fraction, mean_abs = [], [], []
    pil_vs_accurate = []
    try:
        from PIL import Image
    except ImportError:
        Image = None
    for path in paths:
        content = tf.io.read_file(path)
        default = tf.io.decode_image(content, channels=3,
                                     expand_animations=False).numpy()
        accurate = tf.io.decode_jpeg(content, channels=3,
                                     dct_method="INTEGER_ACCURATE").numpy()
        delta = np.abs(default.astype(int) - accurate.astype(int))
        fast_vs_accurate.append(delta.max())
        fraction.append(float(np.mean(delta > 0)))
        mean_abs.append(float(np.mean(delta)))
        if Image is not None:
            pil = np.asarray(Image.open(path).convert("RGB")).astype(int)
            pil_vs_accurate.append(np.abs(pil - accurate).max())
    return {
        "jpeg_files": len(paths),
        "one_keras_decode_vs_accurate_max_levels": int(max(fast_vs_accurate)),
        "one_keras_decode_vs_accurate_mean_abs_levels": float(
            np.mean(mean_abs)),
        "fraction_of_values_differing": float(np.mean(fraction)),
        "pil_vs_accurate_max_levels": (int(max(pil_vs_accurate))
                                       if pil_vs_accurate else None),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch_python", required=True)
    parser.add_argument("--data_dir", required=True,
                        help="Image folder: train/<class>/*, test/<class>/*.")
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1,
                        help="Initial lr (x0.1 at 50%% and 75%% of --steps); "
                        "0.01 keeps float32 noise from growing chaotically.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="parity.json")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, os.path.dirname(HERE))
    import keras

    from one_keras import data as data_lib
    from one_keras.training.experiment import step_schedule

    keras.utils.set_random_seed(args.seed)
    dataset = data_lib.load_dataset("image_folder", data_dir=args.data_dir,
                                    image_size=32)
    needed = args.steps * args.batch_size + 64
    images, labels = [], []
    for image, label in dataset.train.batch(256):
        images.append(image.numpy())
        labels.append(label.numpy())
    images, labels = np.concatenate(images), np.concatenate(labels)
    order = np.random.default_rng(args.seed).permutation(len(labels))
    order = np.resize(order, needed)  # Repeats when the folder is small.
    x = images[order[:-64]].reshape(args.steps, args.batch_size, 32, 32, 3)
    y = labels[order[:-64]].reshape(args.steps, args.batch_size)
    probe = images[order[-64:]]
    schedule = step_schedule(args.lr, args.steps)
    lrs = [float(schedule(step)) for step in range(args.steps)]

    report = {"config": vars(args), "lr_per_step": lrs}
    runs = {}
    for batch_norm in ("fused", "keras"):
        keras.utils.set_random_seed(args.seed)
        model = build_keras(args.depth, batch_norm)
        if batch_norm == "fused":
            initial = model.network.get_weights()
            weights = keras_to_torch(model.network)
            report["init_std_ratio_keras"] = init_stats(
                (f"k:{layer.name}", layer.weights[0].numpy())
                for layer in model.network.layers
                if len(layer.weights) in (1, 2))
        runs[f"keras_{batch_norm}_bn"] = keras_run(
            model, initial, x, y, probe, args.steps, args.lr)
    with tempfile.TemporaryDirectory() as workdir:
        for dtype, form in (("float64", "pytorch"), ("float32", "pytorch"),
                            ("float32", "keras"), ("float64", "keras")):
            runs[f"torch_{dtype}_{form}_momentum"] = run_torch(
                args.torch_python, weights, x, y, probe, lrs, dtype, form,
                args.depth, workdir)
    report["init_std_ratio_torch"] = runs[
        "torch_float32_pytorch_momentum"]["init_stats"].tolist()
    for key in list(runs):
        runs[key].pop("init_stats", None)
    pairs = {
        "float32 noise: torch32 vs torch64 (pytorch momentum)":
            ("torch_float32_pytorch_momentum",
             "torch_float64_pytorch_momentum"),
        "keras fused BN vs torch64 (pytorch momentum)":
            ("keras_fused_bn", "torch_float64_pytorch_momentum"),
        "keras fused BN vs torch64 (keras momentum)":
            ("keras_fused_bn", "torch_float64_keras_momentum"),
        "keras plain BN vs torch64 (keras momentum)":
            ("keras_keras_bn", "torch_float64_keras_momentum"),
        "keras fused BN vs keras plain BN":
            ("keras_fused_bn", "keras_keras_bn"),
        "torch64: keras momentum vs pytorch momentum":
            ("torch_float64_keras_momentum",
             "torch_float64_pytorch_momentum"),
        "float32 noise: torch32 vs torch64 (keras momentum)":
            ("torch_float32_keras_momentum", "torch_float64_keras_momentum"),
    }
    report["comparisons"] = {name: compare(runs[a], runs[b])
                             for name, (a, b) in pairs.items()}
    report["losses"] = {k: v["losses"][:, 0].tolist()
                        for k, v in runs.items()}
    report["pipeline"] = check_pipeline(dataset, 64)
    report["decoding"] = check_decoding(args.data_dir)
    with open(args.output, "w") as handle:
        json.dump(report, handle, indent=1)
    print(summary(report))


def summary(report):
    """A short text table of the comparisons."""
    lines = ["comparison | init train logits | init eval logits | final "
             "train logits | final eval logits | max loss diff | weights "
             "rel (global) | worst tensor rel | moving var rel"]
    for name, c in report["comparisons"].items():
        lines.append(
            f"{name} | {c['init_train_logits'][0]:.2e} | "
            f"{c['init_eval_logits'][0]:.2e} | "
            f"{c['final_train_logits'][0]:.2e} | "
            f"{c['final_eval_logits'][0]:.2e} | "
            f"{max(c['loss_abs_diff_per_step']):.2e} | "
            f"{c['weights_trainable_global_rel']:.2e} | "
            f"{c['weights_trainable']['max_rel_norm']:.2e} | "
            f"{c['weights_moving_var']['max_rel_norm']:.2e}")
    lines.append("pipeline: " + json.dumps(report["pipeline"]))
    lines.append("decoding: " + json.dumps(report["decoding"]))
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        torch_worker(sys.argv[2], sys.argv[3])
    else:
        main()

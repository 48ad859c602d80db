r"""PCL's loss against the reproduction's PyTorch loss code, on the same inputs.

  git --git-dir=/work/.mirror/shaoeric+Peer-Collaborative-Learning-for-Online-Knowledge-Distillation/repo \
      --work-tree=/tmp/pcl_repo checkout HEAD -- .
  python benchmarks/parity_pcl.py --torch_python /work/torchvenv/bin/python \
      --repo_dir /tmp/pcl_repo [--output docs/parity/pcl.json]

Run with the one_keras environment. It draws random peer logits, pooled
peer features, mean-network logits, labels and a fusion classifier, and
computes the PCL loss twice: with `one_keras.methods.pcl.pcl_loss_terms`
(the fused features through a Keras `Dense`, as the network's
`ensemble_logits` layer) and with the reproduction's own `LossWrapper`,
`CrossEntropyLoss`, `KDLoss` and `PMLoss` (loaded from `--repo_dir/src/
losses/`, the fusion an `nn.Linear` holding the same weights, in
`--torch_python`: a subprocess; the two exchange `.npz` files). It compares
the losses and their gradients with respect to the peers' logits and
features, at the reproduction's epoch 0 (ramp-up weight `exp(-5)`, where
its ramp-up and ours agree) and at epoch 100 (weight 1), against PyTorch in
float32 and in float64 (the yardstick of float32 noise). The reproduction's
loss wrapper is written for 3 peers. Writes `--output` and prints a summary.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
# (the reproduction's epoch, the ramp-up weight it gives, by its formula).
EPOCHS = ((0, float(np.exp(-5.0))), (100, 1.0))
NUM_PEERS = 3


# ------------------------------------------------------------------ torch side


def _load(repo_dir, name):
    """A module of the reproduction's `src/losses/`, loaded by path (its
    package `__init__` imports the whole training stack)."""
    path = os.path.join(repo_dir, "src", "losses", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"pcl_repo_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_worker(input_path, output_path):
    """Runs in the PyTorch interpreter: the reproduction's loss and its
    gradients."""
    import torch

    data = np.load(input_path)
    repo_dir = str(data["repo_dir"])
    kd_loss = _load(repo_dir, "kd_loss")
    classification = _load(repo_dir, "classification")
    wrapper_module = _load(repo_dir, "loss_wrapper")
    out = {}
    for dtype_name, dtype in (("float32", torch.float32),
                              ("float64", torch.float64)):
        for epoch, _ in EPOCHS:
            logits = torch.tensor(data["branch_logits"], dtype=dtype,
                                  requires_grad=True)
            features = torch.tensor(data["features"], dtype=dtype,
                                    requires_grad=True)
            fusion = torch.nn.Linear(features.shape[1] * features.shape[2],
                                     logits.shape[2]).to(dtype)
            with torch.no_grad():
                fusion.weight.copy_(torch.tensor(data["kernel"].T))
                fusion.bias.copy_(torch.tensor(data["bias"]))
            en_out = fusion(torch.cat([features[:, i] for i in
                                       range(NUM_PEERS)], dim=1))
            mean = torch.tensor(data["mean_logits"], dtype=dtype)
            labels = torch.tensor(data["labels"], dtype=torch.long)
            wrapper = wrapper_module.LossWrapper(
                [classification.CrossEntropyLoss(), kd_loss.KDLoss(),
                 kd_loss.PMLoss()], [1.0, 1.0, 1.0])
            outputs = [logits[:, i] for i in range(NUM_PEERS)] + [en_out]
            targets = [en_out.detach()] + [mean[:, i] for i in
                                           range(NUM_PEERS)] + [labels]
            loss, _, _ = wrapper(outputs, targets, epoch=epoch, ema=False)
            loss.backward()
            key = f"{dtype_name}_epoch{epoch}"
            out[f"{key}_loss"] = loss.detach().double().numpy()
            out[f"{key}_grad_logits"] = logits.grad.double().numpy()
            out[f"{key}_grad_features"] = features.grad.double().numpy()
    np.savez(output_path, **out)


# ------------------------------------------------------------------ keras side


def keras_loss(data, rampup_weight):
    """one_keras' PCL loss and its gradients (TensorFlow backend)."""
    import keras
    import tensorflow as tf

    from one_keras.methods.pcl import pcl_loss_terms

    logits = tf.Variable(data["branch_logits"])
    features = tf.Variable(data["features"])
    fusion = keras.layers.Dense(data["kernel"].shape[1])
    fusion.build((None, data["kernel"].shape[0]))
    fusion.set_weights([data["kernel"], data["bias"]])
    with tf.GradientTape() as tape:
        fused = keras.layers.Concatenate()(
            [features[:, i] for i in range(NUM_PEERS)])
        terms = pcl_loss_terms(data["labels"], logits, fusion(fused),
                               data["mean_logits"], temperature=3.0)
        loss = tf.reduce_mean(terms["ce"]) + rampup_weight * (
            tf.reduce_mean(terms["pe"]) + tf.reduce_mean(terms["pm"]))
    grad_logits, grad_features = tape.gradient(loss, [logits, features])
    return (float(loss), grad_logits.numpy().astype("float64"),
            grad_features.numpy().astype("float64"))


def make_inputs(seed, batch, classes, dims):
    rng = np.random.default_rng(seed)
    return {
        "branch_logits": (3 * rng.normal(size=(batch, NUM_PEERS, classes))
                          ).astype("float32"),
        "mean_logits": (3 * rng.normal(size=(batch, NUM_PEERS, classes))
                        ).astype("float32"),
        "features": np.abs(rng.normal(size=(batch, NUM_PEERS, dims))
                           ).astype("float32"),
        "kernel": (rng.normal(size=(NUM_PEERS * dims, classes)) /
                   np.sqrt(NUM_PEERS * dims)).astype("float32"),
        "bias": (0.1 * rng.normal(size=classes)).astype("float32"),
        "labels": rng.integers(0, classes, size=batch),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch_python", required=True)
    parser.add_argument("--repo_dir", required=True,
                        help="A checkout of shaoeric/Peer-Collaborative-"
                        "Learning-for-Online-Knowledge-Distillation.")
    parser.add_argument("--repo_commit", default=None,
                        help="The reproduction's commit, for the report "
                        "(a checkout made with --work-tree has no .git).")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--num_classes", type=int, default=10)
    parser.add_argument("--feature_dims", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="pcl_parity.json")
    args = parser.parse_args()
    if not os.path.isfile(os.path.join(args.repo_dir, "src", "losses",
                                       "loss_wrapper.py")):
        parser.error("--repo_dir must be a checkout of the PCL reproduction "
                     "(it has src/losses/loss_wrapper.py). Received: "
                     f"--repo_dir={args.repo_dir}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    sys.path.insert(0, os.path.dirname(HERE))
    data = make_inputs(args.seed, args.batch_size, args.num_classes,
                       args.feature_dims)
    with tempfile.TemporaryDirectory() as workdir:
        input_path = os.path.join(workdir, "in.npz")
        output_path = os.path.join(workdir, "out.npz")
        np.savez(input_path, repo_dir=os.path.abspath(args.repo_dir), **data)
        subprocess.run([args.torch_python, os.path.abspath(__file__),
                        "--worker", input_path, output_path], check=True)
        torch_out = dict(np.load(output_path))
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE,
                            capture_output=True, text=True).stdout.strip()
    report = {"commit": commit, "reproduction_commit": args.repo_commit,
              "batch_size": args.batch_size, "num_classes": args.num_classes,
              "feature_dims": args.feature_dims, "num_peers": NUM_PEERS,
              "temperature": 3.0, "seed": args.seed, "cases": {}}
    for epoch, weight in EPOCHS:
        loss, grad_logits, grad_features = keras_loss(data, weight)
        ours = {"loss": np.float64(loss), "grad_logits": grad_logits,
                "grad_features": grad_features}
        case = {"rampup_weight": weight, "loss_keras": loss}
        for dtype in ("float32", "float64"):
            key = f"{dtype}_epoch{epoch}"
            case[f"loss_torch_{dtype}"] = float(torch_out[f"{key}_loss"])
            for name, value in ours.items():
                theirs = torch_out[f"{key}_{name}"]
                case[f"{name}_max_abs_diff_vs_torch_{dtype}"] = float(
                    np.max(np.abs(value - theirs)))
                case[f"{name}_max_abs_{dtype}"] = float(np.max(np.abs(
                    theirs)))
        torch32 = {name: torch_out[f"float32_epoch{epoch}_{name}"]
                   for name in ours}
        torch64 = {name: torch_out[f"float64_epoch{epoch}_{name}"]
                   for name in ours}
        case["torch_float32_vs_float64"] = {
            name: float(np.max(np.abs(torch32[name] - torch64[name])))
            for name in ours}
        report["cases"][f"epoch{epoch}"] = case
    with open(args.output, "w") as handle:
        json.dump(report, handle, indent=1, sort_keys=True)
    print(summary(report))


def summary(report):
    """A short text table of the comparisons."""
    lines = ["case | loss keras | loss torch64 | max|diff| vs torch64: loss, "
             "d/dlogits, d/dfeatures | torch32 vs torch64: same"]
    for name, c in report["cases"].items():
        noise = c["torch_float32_vs_float64"]
        lines.append(
            f"{name} (w={c['rampup_weight']:.4g}) | {c['loss_keras']:.6f} | "
            f"{c['loss_torch_float64']:.6f} | "
            f"{c['loss_max_abs_diff_vs_torch_float64']:.1e}, "
            f"{c['grad_logits_max_abs_diff_vs_torch_float64']:.1e}, "
            f"{c['grad_features_max_abs_diff_vs_torch_float64']:.1e} | "
            f"{noise['loss']:.1e}, {noise['grad_logits']:.1e}, "
            f"{noise['grad_features']:.1e}")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        torch_worker(sys.argv[2], sys.argv[3])
    else:
        main()

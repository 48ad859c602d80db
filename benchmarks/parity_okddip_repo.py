r"""CL-ILR and OKDDip losses against the authors' PyTorch code.

  git --git-dir=/work/.mirror/DefangChen+OKDDip/repo --work-tree=DIR \
      checkout HEAD -- .
  python benchmarks/parity_okddip_repo.py --repo_dir DIR \
      --torch_python /work/torchvenv/bin/python

Run with the one_keras environment (TensorFlow backend). It feeds the same
random logits, features, labels and projection weights to one_keras'
losses (`one_keras.methods.cl_ilr.cl_ilr_loss_terms`, the
`GradientRescale` layer, the attention layers of
`one_keras.methods.okddip.build_okddip_network` and `okddip_loss_terms`)
and to the authors' code in DefangChen/OKDDip (`--repo_dir`): the models
`models/model_cifar/resnet_one.py` (`--avg --bpscale`: the other heads'
mean as targets, the `ILR` rescaling function) and `resnet_GL.py` (the
peers' attention), with their trunks and branches replaced by the given
tensors, and the loss lines of `train_one.py` and `train_GL.py` with their
`utils.KL_Loss` (alpha = 1, consistency weight 1). PyTorch runs in
`--torch_python` (a subprocess; the two exchange `.npz` files), in float32,
in float64 and in float64 with `KL_Loss`'s `+ 1e-7` on the target
probabilities removed. It compares the losses and their gradients with
respect to the logits, the features and the projection weights, writes
`docs/parity/cl_ilr.json` and `docs/parity/okddip.json` (`--output_dir`)
and prints a summary.
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
ROOT = os.path.dirname(HERE)
# The authors' code defaults (train_one.py, train_GL.py): T = 3, alpha = 1.
TEMPERATURE = 3.0
# The line of `utils.KL_Loss` that adds 1e-7 to the target probabilities.
KL_EPSILON = "+ 10**(-7)"


# ------------------------------------------------------------------ torch side


def _load(path, name, drop_epsilon=False):
    """Imports one file of the authors' repository as a module."""
    import types

    with open(path) as handle:
        source = handle.read()
    if drop_epsilon:
        if KL_EPSILON not in source:
            raise ValueError(f"{path} no longer holds {KL_EPSILON!r}")
        source = source.replace(KL_EPSILON, "")
    module = types.ModuleType(name)
    module.__file__ = path
    exec(compile(source, path, "exec"), module.__dict__)
    return module


def torch_worker(input_path, output_path, repo_dir, dtype_name,
                 drop_epsilon):
    """Runs in the PyTorch interpreter: the authors' models and losses."""
    import torch
    from torch import nn

    torch.set_num_threads(1)
    dtype = {"float32": torch.float32, "float64": torch.float64}[dtype_name]
    data = np.load(input_path)
    utils = _load(os.path.join(repo_dir, "utils.py"), "okddip_utils",
                  drop_epsilon)
    model_dir = os.path.join(repo_dir, "models", "model_cifar")
    resnet_one = _load(os.path.join(model_dir, "resnet_one.py"),
                       "okddip_resnet_one")
    resnet_gl = _load(os.path.join(model_dir, "resnet_GL.py"),
                      "okddip_resnet_gl")
    criterion = nn.CrossEntropyLoss()
    criterion_T = utils.KL_Loss(TEMPERATURE)
    alpha, consistency_weight = 1.0, 1.0
    labels_batch = torch.from_numpy(data["labels"]).long()

    class Given(nn.Module):
        """Stands for a stage or classifier: returns a given tensor."""

        def __init__(self, tensor):
            super().__init__()
            self.tensor = tensor

        def forward(self, x):
            return self.tensor

    def leaf(array):
        return torch.tensor(array, dtype=dtype, requires_grad=True)

    def strip_trunk(model):
        for name in ("conv1", "bn1", "relu", "layer1", "layer2"):
            setattr(model, name, nn.Identity())

    out = {}
    # CL-ILR: train_one.py --avg --bpscale, resnet_one.ResNet(avg, bpscale).
    heads = leaf(data["cl_logits"])  # (batch, heads, classes)
    num_branches = heads.shape[1]
    model = resnet_one.resnet32(num_classes=heads.shape[2],
                                num_branches=num_branches, avg=True,
                                bpscale=True).to(dtype)
    strip_trunk(model)
    for i in range(num_branches):
        setattr(model, f"layer3_{i}", nn.Identity())
        setattr(model, f"classifier3_{i}", Given(heads[:, i]))
    output_batch, x_m = model(torch.zeros(heads.shape[0], 64, 1, 1,
                                          dtype=dtype))
    # train_one.py, `if args.avg:` branch of train():
    loss_true = 0
    loss_group = 0
    for i in range(num_branches):
        loss_true += criterion(output_batch[:, :, i], labels_batch)
        loss_group += criterion_T(output_batch[:, :, i], x_m[:, :, i])
    loss = loss_true + alpha * consistency_weight * loss_group
    loss.backward()
    out.update({"cl_loss": loss.item(), "cl_ce": loss_true.item(),
                "cl_kl": loss_group.item(),
                "cl_grad_logits": heads.grad.double().numpy()})
    # Backpropagation rescaling: the ILR function at the split point.
    shared = leaf(data["ilr_features_nchw"])
    upstream = torch.tensor(data["ilr_upstream_nchw"], dtype=dtype)
    (model.layer_ILR(shared, num_branches) * upstream).sum().backward()
    out["ilr_grad"] = shared.grad.double().numpy()

    # OKDDip: train_GL.py, resnet_GL.ResNet (peers and a leader).
    features = leaf(data["okd_features"])  # (batch, peers, width)
    peers = leaf(data["okd_peer_logits"])  # (batch, peers, classes)
    leader = leaf(data["okd_leader_logits"])  # (batch, classes)
    num_peers, width = peers.shape[1], features.shape[2]
    model = resnet_gl.resnet32(num_classes=peers.shape[2],
                               num_branches=num_peers + 1,
                               input_channel=width,
                               factor=int(data["factor"])).to(dtype)
    strip_trunk(model)
    for i in range(num_peers):
        setattr(model, f"layer3_{i}",
                Given(features[:, i].reshape(-1, width, 1, 1)))
        setattr(model, f"classifier3_{i}", Given(peers[:, i]))
    setattr(model, f"layer3_{num_peers}",
            Given(torch.zeros(leader.shape[0], width, 1, 1, dtype=dtype)))
    setattr(model, f"classifier3_{num_peers}", Given(leader))
    with torch.no_grad():  # nn.Linear weights are (out, in).
        model.query_weight.weight.copy_(torch.from_numpy(data["query"].T))
        model.key_weight.weight.copy_(torch.from_numpy(data["key"].T))
    output_batch, x_m, x_stu = model(torch.zeros(1, dtype=dtype))
    # train_GL.py, train():
    loss_true = 0
    loss_group = 0
    for i in range(num_peers):
        loss_true += criterion(output_batch[:, :, i], labels_batch)
        loss_group += criterion_T(output_batch[:, :, i], x_m[:, :, i])
    loss = loss_true + criterion(x_stu, labels_batch) + alpha * \
        consistency_weight * (loss_group + criterion_T(
            x_stu, torch.mean(output_batch, dim=2)))
    loss.backward()
    out.update({
        "okd_loss": loss.item(), "okd_targets": x_m.detach().permute(
            0, 2, 1).double().numpy(),
        "okd_grad_features": features.grad.double().numpy(),
        "okd_grad_peer_logits": peers.grad.double().numpy(),
        "okd_grad_leader_logits": leader.grad.double().numpy(),
        "okd_grad_query": model.query_weight.weight.grad.double().numpy().T,
        "okd_grad_key": model.key_weight.weight.grad.double().numpy().T})
    np.savez(output_path, **out)


# ------------------------------------------------------------------ keras side


def make_inputs(seed, batch, classes, heads, peers, width, factor):
    """Random logits, features, labels and projection weights."""
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(width)  # nn.Linear's default init range.
    features = rng.normal(size=(batch, 16, 16, 32)).astype("float32")
    upstream = rng.normal(size=features.shape).astype("float32")
    return {
        "labels": rng.integers(0, classes, size=batch),
        "cl_logits": (3 * rng.normal(size=(batch, heads, classes))
                      ).astype("float32"),
        "ilr_features": features,
        "ilr_features_nchw": features.transpose(0, 3, 1, 2),
        "ilr_upstream": upstream,
        "ilr_upstream_nchw": upstream.transpose(0, 3, 1, 2),
        "okd_features": np.abs(rng.normal(size=(batch, peers, width))
                               ).astype("float32"),
        "okd_peer_logits": (3 * rng.normal(size=(batch, peers, classes))
                            ).astype("float32"),
        "okd_leader_logits": (3 * rng.normal(size=(batch, classes))
                              ).astype("float32"),
        "query": (8 * rng.uniform(-bound, bound, size=(width, width // factor))
                  ).astype("float32"),
        "key": (8 * rng.uniform(-bound, bound, size=(width, width // factor))
                ).astype("float32"),
        "factor": np.asarray(factor)}


def keras_side(inputs):
    """one_keras' losses and gradients on `inputs` (TensorFlow backend)."""
    import tensorflow as tf
    from keras import ops

    from one_keras.methods import cl_ilr
    from one_keras.methods import okddip

    labels = inputs["labels"]
    out = {}
    heads = tf.Variable(inputs["cl_logits"])
    for target_gradient in (True, False):
        with tf.GradientTape() as tape:
            ce, kl = cl_ilr.cl_ilr_loss_terms(labels, heads, TEMPERATURE,
                                              target_gradient)
            ce, kl = ops.mean(ce), ops.mean(kl)
            loss = ce + kl  # The code's weights; beta = 0.5 halves both.
        key = "code" if target_gradient else "paper"
        out.update({f"cl_{key}_loss": float(loss), f"cl_{key}_ce": float(ce),
                    f"cl_{key}_kl": float(kl),
                    f"cl_{key}_grad_logits": tape.gradient(loss, heads)
                    .numpy()})
    shared = tf.Variable(inputs["ilr_features"])
    rescale = cl_ilr.GradientRescale(1.0 / heads.shape[1])
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(rescale(shared, training=True) *
                              inputs["ilr_upstream"])
    out["ilr_grad"] = tape.gradient(value, shared).numpy()

    peers_array = inputs["okd_peer_logits"]
    num_peers, classes = peers_array.shape[1], peers_array.shape[2]
    width = inputs["okd_features"].shape[2]
    network = okddip.build_okddip_network(
        "resnet", classes, num_peers=num_peers,
        projection_factor=int(inputs["factor"]), input_shape=(8, 8, 3),
        depth=8, width=width // 4)
    query, key_layer = network.get_layer("query"), network.get_layer("key")
    query.kernel.assign(inputs["query"])
    key_layer.kernel.assign(inputs["key"])
    features = tf.Variable(inputs["okd_features"])
    peers = tf.Variable(peers_array)
    leader = tf.Variable(inputs["okd_leader_logits"])
    with tf.GradientTape() as tape:
        queries = ops.stack([query(features[:, i])
                             for i in range(num_peers)], 1)
        keys = ops.stack([key_layer(features[:, i])
                          for i in range(num_peers)], 1)
        energy = network.get_layer("attention_energy")([queries, keys])
        attention = network.get_layer("attention")(energy)
        targets = network.get_layer("peer_targets")([attention, peers])
        terms = okddip.okddip_loss_terms(labels, peers, targets, leader,
                                         TEMPERATURE)
        loss = sum(ops.mean(term) for term in terms)
    grads = tape.gradient(loss, [features, peers, leader, query.kernel,
                                 key_layer.kernel])
    out.update({"okd_loss": float(loss),
                "okd_targets": targets.numpy(),
                **{f"okd_grad_{name}": grad.numpy() for name, grad in zip(
                    ("features", "peer_logits", "leader_logits", "query",
                     "key"), grads)}})
    return out


def run_torch(torch_python, repo_dir, inputs, dtype, drop_epsilon, workdir):
    tag = f"{dtype}{'_no_eps' if drop_epsilon else ''}"
    input_path = os.path.join(workdir, "inputs.npz")
    output_path = os.path.join(workdir, f"torch_{tag}.npz")
    np.savez(input_path, **inputs)
    subprocess.run([torch_python, os.path.abspath(__file__), "--torch-worker",
                    input_path, output_path, repo_dir, dtype,
                    str(int(drop_epsilon))], check=True)
    with np.load(output_path) as data:
        return {key: data[key] for key in data.files}


def difference(ours, theirs):
    """Largest absolute and relative difference of two arrays."""
    ours, theirs = np.asarray(ours, "float64"), np.asarray(theirs, "float64")
    absolute = float(np.max(np.abs(ours - theirs)))
    return {"max_abs": absolute,
            "max_rel": absolute / max(float(np.max(np.abs(theirs))), 1e-30)}


def compare(keras_out, torch_runs, pairs):
    """`pairs`: quantity -> (our key, their key), against every torch run."""
    return {quantity: {run: difference(keras_out[ours], result[theirs])
                       for run, result in torch_runs.items()}
            for quantity, (ours, theirs) in pairs.items()}


def commit_of(path):
    try:
        return subprocess.run(["git", "-C", path, "rev-parse", "HEAD"],
                              capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch_python", required=True)
    parser.add_argument("--repo_dir", required=True,
                        help="A checkout of DefangChen/OKDDip.")
    parser.add_argument("--repo_commit", default=None,
                        help="The commit checked out (recorded).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=1e-5,
                        help="Largest relative difference to float64 "
                        "PyTorch without KL_Loss's epsilon.")
    parser.add_argument("--output_dir",
                        default=os.path.join(ROOT, "docs", "parity"))
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    sys.path.insert(0, ROOT)
    inputs = make_inputs(args.seed, batch=16, classes=10, heads=4, peers=3,
                         width=64, factor=8)
    keras_out = keras_side(inputs)
    keras_out["ilr_grad_nchw"] = keras_out["ilr_grad"].transpose(0, 3, 1, 2)
    with tempfile.TemporaryDirectory() as workdir:
        torch_runs = {
            f"torch_{dtype}{'_no_eps' if drop else ''}": run_torch(
                args.torch_python, os.path.abspath(args.repo_dir), inputs,
                dtype, drop, workdir)
            for dtype, drop in (("float32", False), ("float64", False),
                                ("float64", True))}
    provenance = {"one_keras_commit": commit_of(ROOT),
                  "repo_commit": args.repo_commit or commit_of(
                      args.repo_dir),
                  "temperature": TEMPERATURE, "seed": args.seed,
                  "tolerance": args.tolerance}
    reports = {
        "cl_ilr": {**provenance, "target_gradient": True, "comparisons":
                   compare(keras_out, torch_runs, {
                       "loss": ("cl_code_loss", "cl_loss"),
                       "ce": ("cl_code_ce", "cl_ce"),
                       "kl": ("cl_code_kl", "cl_kl"),
                       "grad_logits": ("cl_code_grad_logits",
                                       "cl_grad_logits"),
                       "ilr_grad_features": ("ilr_grad_nchw", "ilr_grad")}),
                   "paper_variant_vs_code": compare(keras_out, torch_runs, {
                       "loss": ("cl_paper_loss", "cl_loss"),
                       "grad_logits": ("cl_paper_grad_logits",
                                       "cl_grad_logits")})},
        "okddip": {**provenance, "target_gradient": True, "comparisons":
                   compare(keras_out, torch_runs, {
                       "loss": ("okd_loss", "okd_loss"),
                       "peer_targets": ("okd_targets", "okd_targets"),
                       **{f"grad_{name}": (f"okd_grad_{name}",
                                           f"okd_grad_{name}")
                          for name in ("features", "peer_logits",
                                       "leader_logits", "query", "key")}})}}
    exact = "torch_float64_no_eps"
    failures = []
    for method, report in reports.items():
        for quantity, runs in report["comparisons"].items():
            if runs[exact]["max_rel"] > args.tolerance:
                failures.append(f"{method} {quantity}: {runs[exact]}")
        report["agrees"] = not any(f.startswith(method) for f in failures)
        os.makedirs(args.output_dir, exist_ok=True)
        path = os.path.join(args.output_dir, f"{method}.json")
        with open(path, "w") as handle:
            json.dump(report, handle, indent=1, sort_keys=True)
            handle.write("\n")
        print(f"{method}: wrote {path}")
        for quantity, runs in report["comparisons"].items():
            print(f"  {quantity:18s} " + "  ".join(
                f"{run[6:]}: {d['max_rel']:.1e}" for run, d in runs.items()))
    print("paper variant (stopped targets) vs code, CL-ILR grad: "
          f"{reports['cl_ilr']['paper_variant_vs_code']['grad_logits']}")
    if failures:
        print("DISAGREES:\n  " + "\n  ".join(failures))
        return 1
    print(f"agrees: every relative difference to {exact} <= "
          f"{args.tolerance:g}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--torch-worker":
        torch_worker(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5],
                     bool(int(sys.argv[6])))
    else:
        sys.exit(main())

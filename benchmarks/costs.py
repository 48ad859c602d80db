r"""Training and test cost of every method, as the paper's Tables 3-4 count.

  python benchmarks/costs.py [--num_classes 100] [--depths 32,110]

Builds each method for CIFAR-size input (no training) with ResNet-32 and
ResNet-110 and prints TrCost (forward FLOPs per image of everything a
training step runs) and TeCost (of what is deployed), in units of 1e8, and
the deployed parameters. KD's teacher is a ResNet-110, as in the paper.
"""

import os


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from one_keras import methods  # noqa: E402
from one_keras.reports import flops  # noqa: E402
from one_keras.reports.parameters import count_shipped  # noqa: E402


_CLASSES = flags.DEFINE_integer("num_classes", 100, "Classes.")
_DEPTHS = flags.DEFINE_list("depths", ["32", "110"], "ResNet depths (the "
                            "study's ONE's family rows: 20).")

# Row label -> build_method_model arguments.
ROWS = {
    "vanilla": {"method": "vanilla"},
    "KD (ResNet-110 teacher)": {"method": "kd"},
    "DML (2 peers)": {"method": "dml", "num_peers": 2},
    "2-Net ensemble": {"method": "ensemble", "num_peers": 2},
    "3-Net ensemble": {"method": "ensemble", "num_peers": 3},
    "Snapshot ensemble (M=5)": {"method": "snapshot", "num_snapshots": 5},
    "ONE (3 branches)": {"method": "one"},
    # ONE's family, as the study trains it (3 branches or students).
    "CL-ILR (3 heads)": {"method": "cl_ilr", "num_branches": 3},
    "OKDDip (2 peers + leader)": {"method": "okddip", "num_peers": 2},
    "PCL (3 branches)": {"method": "pcl", "num_branches": 3},
    "KDCL (3 students)": {"method": "kdcl", "num_students": 3},
}


def cost(networks):
    return sum(flops.count_flops(n) for n in networks) / 1e8


def table_rows(depth, teacher):
    common = {"num_classes": _CLASSES.value, "input_shape": (32, 32, 3),
              "depth": depth}
    for label, arguments in ROWS.items():
        extra = {"teacher": teacher} if arguments["method"] == "kd" else {}
        model = methods.build_method_model(**arguments, **extra, **common)
        if arguments["method"] == "snapshot":
            for _ in range(model.num_snapshots):
                model.take_snapshot()  # deploy all M, as after training
        deployed = model.deployed_model()
        test_cost = cost([deployed])
        if arguments["method"] == "one":
            label_e = "ONE-E (3 branches)"
            yield (label_e, cost(model.training_networks()),
                   cost([model.ensemble_model()]),
                   count_shipped(model.ensemble_model()))
        yield (label, cost(model.training_networks()), test_cost,
               count_shipped(deployed))


def main(argv):
    del argv
    teacher = methods.build_method_model(
        "vanilla", num_classes=_CLASSES.value, input_shape=(32, 32, 3),
        depth=110).deployed_model()
    print("| method | ResNet | TrCost (1e8) | TeCost (1e8) | params |")
    print("|---|---|---|---|---|")
    for depth in (int(depth) for depth in _DEPTHS.value):
        for label, train, test, params in table_rows(depth, teacher):
            print(f"| {label} | {depth} | {train:.2f} | {test:.2f} | "
                  f"{params:,} |")


if __name__ == "__main__":
    app.run(main)

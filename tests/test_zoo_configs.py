"""The zoo flagfiles: one per Table 1/2 row, each naming a real model."""

import pathlib

import pytest

from one_keras.data import dataset_names
from one_keras.models import model_names

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"
# file stem -> (model, dataset, epochs, the paper's "vanilla -> ONE" errors).
ROWS = {
    "cifar10_resnext29": ("resnext29_8x64d", "cifar10", 300,
                          "3.69 -> ONE 3.45"),
    "cifar100_resnext29": ("resnext29_8x64d", "cifar100", 300,
                           "17.77 -> ONE 16.07"),
    "svhn_resnext29": ("resnext29_8x64d", "svhn_cropped", 40, "1.83 -> ONE 1.70"),
    "cifar10_densenet_bc190": ("densenet_bc_190_40", "cifar10", 300,
                               "3.32 -> ONE 3.13"),
    "cifar100_densenet_bc190": ("densenet_bc_190_40", "cifar100", 300,
                                "17.53 -> ONE 16.35"),
    "svhn_densenet_bc190": ("densenet_bc_190_40", "svhn_cropped", 40,
                            "1.73 -> ONE 1.63"),
    "imagenet_resnet18": ("resnet18", "imagenet2012", 90,
                          "30.48/10.98 -> ONE 29.45/10.41"),
    "imagenet_resnext50": ("resnext50_32x4d", "imagenet2012", 90,
                           "22.62/6.29 -> ONE 21.85/5.90"),
}


def read_flags(path):
    """`(comment text, {flag: value})` of an absl flagfile."""
    comments, values = [], {}
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            comments.append(line)
        elif line.startswith("--"):
            name, _, value = line[2:].partition("=")
            values[name] = value
    return "\n".join(comments), values


@pytest.mark.parametrize("stem", sorted(ROWS))
def test_flagfile_matches_its_paper_row(stem):
    model, dataset, epochs, errors = ROWS[stem]
    comments, values = read_flags(CONFIGS / f"{stem}.flags")
    assert (f"python -m one_keras.train --flagfile configs/{stem}.flags"
            in comments)
    assert errors in comments.replace("\n#   ", " ")
    assert values["backbone"] == model and model in model_names()
    assert values["dataset"] == dataset and dataset in dataset_names()
    assert int(values["epochs"]) == epochs
    assert values["num_branches"] == "3"

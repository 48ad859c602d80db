"""The paper's baselines and ablations, built by name (Tables 3-6).

`build_method_model(method, ...)` (in `registry.py`) returns a model ready
to `compile` and `fit`; every one has `target_model()` and
`deployed_model()`:

| method | model | deployed |
|---|---|---|
| `"one"` | `ONEModel` (ablations: `kl_weight=0`, `share_trunk=False`, `gate="average"`, `num_branches`) | branch 0 |
| `"vanilla"` | `ONEModel` with one branch | the network |
| `"kd"` | `KDModel` (frozen `teacher`) | the student |
| `"dml"` | `DMLModel` (`num_peers` peers) | peer 0 |
| `"ensemble"` | `EnsembleModel` (`num_peers` networks) | probability average |
| `"snapshot"` | `SnapshotModel` (`num_snapshots`) | probability average |

Importing this package registers every method model for `.keras` loading.
"""

from one_keras.methods.deployment import count_parameters
from one_keras.methods.deployment import deployed_model
from one_keras.methods.deployment import training_networks
from one_keras.methods.dml import DMLModel
from one_keras.methods.ensemble import EnsembleModel
from one_keras.methods.kd import KDModel
from one_keras.methods.options import METHOD_OPTIONS
from one_keras.methods.options import check_method_options
from one_keras.methods.peers import PeersModel
from one_keras.methods.registry import DEFAULT_TEMPERATURE
from one_keras.methods.registry import METHODS
from one_keras.methods.registry import build_method_model
from one_keras.methods.snapshot import CyclicCosineDecay
from one_keras.methods.snapshot import SnapshotCallback
from one_keras.methods.snapshot import SnapshotModel

__all__ = ["CyclicCosineDecay", "DEFAULT_TEMPERATURE", "DMLModel",
           "EnsembleModel", "KDModel", "METHODS", "PeersModel",
           "METHOD_OPTIONS", "SnapshotCallback", "SnapshotModel",
           "build_method_model", "check_method_options", "count_parameters",
           "deployed_model", "training_networks"]

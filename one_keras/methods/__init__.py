"""The paper's method and baselines, built by name (Tables 3-6).

Each method is one `Method` object (`one_keras.methods.method`) in its own
module, listed in `registry.REGISTRY`: its options, builder, callbacks and
schedule. `build_method_model(method, ...)` returns a model ready to
`compile` and `fit`; every one declares what it deploys (`deployables()`:
name -> a plain Keras model, raw pixels in, logits out; `deployed_model()`,
marked *, is the one the paper's tables compare):

- `"one"`: `ONEModel` (ablations: `no_distillation`, `no_sharing`,
  `gate="average"`, `num_branches`); `target`* (branch 0), `ensemble`
  (ONE-E).
- `"vanilla"`: `ONEModel` with one branch; `target`* (the network).
- `"kd"`: `KDModel` (a frozen `teacher`); `target`* (the student).
- `"dml"`: `DMLModel` (`num_peers` peers); `target`* (peer 0), `ensemble`,
  `peer_1`...
- `"ensemble"`: `EnsembleModel` (`num_peers` networks); `target` (member
  0), `ensemble`* (probability average).
- `"snapshot"`: `SnapshotModel` (`num_snapshots`); `target` (the last
  snapshot), `ensemble`* (probability average).
- `"cl_ilr"`: `CLILRModel` (`num_branches` heads, `beta`); `target`* (head
  0), `ensemble` (mean logits).
- `"okddip"`: `OKDDipModel` (`num_peers` peers and a leader); `target`*
  (the leader), `ensemble` (the peers' mean).
- `"pcl"`: `PCLModel` (`num_branches`, a mean network); `target`* (the
  mean network's branch 0), `ensemble`.
- `"kdcl"`: `KDCLModel` (`num_students`, `kdcl_variant`); `target`*
  (student 0), `ensemble`, `peer_1`...

Importing this package registers every method model for `.keras` loading.
"""

from one_keras.methods.dml import DMLModel
from one_keras.methods.ensemble import EnsembleModel
from one_keras.methods.kd import KDModel
from one_keras.methods.method import BuildRequest
from one_keras.methods.method import Method
from one_keras.methods.method_model import deployed_model
from one_keras.methods.options import check_method_options
from one_keras.methods.options import option_users
from one_keras.methods.peers import PeersModel
from one_keras.methods.registry import METHODS
from one_keras.methods.registry import REGISTRY
from one_keras.methods.registry import build_method_model
from one_keras.methods.registry import get_method
from one_keras.methods.registry import resolve_options
from one_keras.methods.snapshot import SnapshotCallback
from one_keras.methods.snapshot import SnapshotModel
from one_keras.methods.snapshot import cyclic_cosine_decay

__all__ = ["BuildRequest", "DMLModel", "EnsembleModel",
           "KDModel", "METHODS", "Method", "PeersModel", "REGISTRY",
           "SnapshotCallback", "SnapshotModel", "build_method_model",
           "check_method_options", "cyclic_cosine_decay", "deployed_model",
           "get_method", "option_users", "resolve_options"]

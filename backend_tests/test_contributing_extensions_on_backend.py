"""docs/contributing.md's toy backbone and `.npz` export format on this
backend: the format's converter needs no TensorFlow, so it trains, exports,
verifies and predicts in an environment without it (CI's JAX suite)."""

from tests.test_contributing_extensions import registered  # noqa: F401
from tests.test_contributing_extensions import \
    test_doc_backbone_and_format_train_export_verify_and_predict  # noqa: F401

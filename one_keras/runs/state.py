"""`ResumeState`: what a run resumes from, read from its newest backup."""

import dataclasses
from typing import Optional

from one_keras.runs import recorded_settings


@dataclasses.dataclass(frozen=True)
class ResumeState:
    """The state a run resumes from: its restored backup's epoch and the
    metadata that the backup recorded (`one_keras.runs.backup` stores it as
    JSON beside the weights).

    Attributes:
        epoch: int. Epochs the restored backup holds (0: a fresh start).
        train_seconds: float or `None`. Training time of those epochs
            (`None`: not recorded, by backups of older versions).
        resumed_with_changes: tuple of dict. The earlier resumes' changed
            settings, `{"epoch": e, setting: [old, new], ...}` each.
        config: dict or `None`. The run's settings (what a rerun checks
            when `config.json` is unreadable).
        num_classes: int or `None`. Classes of the data it trained on.
        backend: str or `None`. The Keras backend it trained on.
    """

    epoch: int = 0
    train_seconds: Optional[float] = None
    resumed_with_changes: tuple = ()
    config: Optional[dict] = None
    num_classes: Optional[int] = None
    backend: Optional[str] = None

    @classmethod
    def from_backup(cls, epoch, metadata):
        """The state of a restored backup.

        Args:
            epoch: int. The backup's epoch (0: none restored).
            metadata: dict or `None`. Its metadata (`{}`: none).

        Returns:
            A `ResumeState`.
        """
        metadata = metadata or {}
        seconds = metadata.get("train_seconds")
        return cls(epoch=int(epoch),
                   train_seconds=None if seconds is None else float(seconds),
                   resumed_with_changes=tuple(
                       metadata.get("resumed_with_changes", ())),
                   config=recorded_settings.current_names(
                       metadata.get("config")),
                   num_classes=metadata.get("num_classes"),
                   backend=metadata.get("backend"))

    @property
    def previous_seconds(self):
        """Training seconds before this resume (0 when unknown)."""
        return self.train_seconds or 0.0

    def metadata(self):
        """The JSON metadata a backup of this state records.

        Returns:
            A dict of the fields set (`epoch` is the backup's own).
        """
        fields = {"train_seconds": self.train_seconds,
                  "resumed_with_changes": list(self.resumed_with_changes),
                  "config": self.config, "num_classes": self.num_classes,
                  "backend": self.backend}
        return {name: value for name, value in fields.items()
                if value is not None}

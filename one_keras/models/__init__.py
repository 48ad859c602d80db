"""Backbones split for ONE and their ready-made builders."""

from one_keras.models.one_resnet import build_one_resnet
from one_keras.models.registry import build_one_model
from one_keras.models.registry import model_names

__all__ = ["build_one_model", "build_one_resnet", "model_names"]

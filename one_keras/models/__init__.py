"""Backbones split for ONE and their ready-made builders."""

from one_keras.models.one_resnet import build_one_resnet

__all__ = ["build_one_resnet"]

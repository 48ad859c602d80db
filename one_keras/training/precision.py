"""The dtype policy a run trains under: `TrainConfig.dtype_policy`.

Keras' names (`float32`, `mixed_bfloat16`, `mixed_float16`), plus `auto`:
`mixed_bfloat16` where the hardware computes bfloat16 fast (a CPU with
`avx512_bf16` or `amx_bf16`, a TPU, a GPU of compute capability 8.0 or
more), else `float32`. Where it has no bfloat16 units a CPU emulates it and
TensorFlow is slower (docs/performance.md: about 8x slower than float32 on an
AMD EPYC without AVX-512; XLA on JAX is not). The accuracy check measured
no loss (docs/results.md, ResNet-20, 2 seeds); the default stays `float32`
until the suite has run under `auto` on a machine with bfloat16 units.
`--mixed_precision` (an alias kept from earlier versions) is the device's
mixed policy: `mixed_float16` on a GPU, else `mixed_bfloat16`. `auto`
chooses for a new run only: a run resumes under the policy it recorded
(`one_keras.training.experiment.run`).
"""

import os


# `TrainConfig.dtype_policy` values.
DTYPE_POLICIES = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
# The policy a run trains under by default.
DEFAULT_DTYPE_POLICY = "float32"
# CPU flags (`/proc/cpuinfo`) of instructions that compute bfloat16.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
# The smallest CUDA compute capability with bfloat16 tensor cores (Ampere).
BF16_GPU_CAPABILITY = (8, 0)


def resolve_dtype_policy(dtype_policy, mixed_precision=False, strategy=None):
    """The Keras dtype policy a run trains under.

    Args:
        dtype_policy: str. One of `DTYPE_POLICIES`.
        mixed_precision: bool. `True`: the device's mixed policy
            (`--mixed_precision`); only with `dtype_policy="float32"`, the
            default.
        strategy: the run's `tf.distribute` strategy or `None` (a TPU
            strategy runs bfloat16).

    Returns:
        str. `"float32"`, `"mixed_bfloat16"` or `"mixed_float16"`.
    """
    if mixed_precision:
        from one_keras.training import distribution  # Imports Keras.

        return distribution.mixed_precision_policy(strategy)
    if dtype_policy != "auto":
        return dtype_policy
    return "mixed_bfloat16" if has_fast_bfloat16(strategy) else "float32"


def has_fast_bfloat16(strategy=None):
    """Whether this machine computes bfloat16 in hardware: a TPU, a GPU of
    compute capability >= 8.0, or a CPU with `avx512_bf16` or `amx_bf16`.

    Args:
        strategy: a `tf.distribute` strategy or `None`.

    Returns:
        bool.
    """
    from one_keras.training import distribution  # Imports Keras.

    if distribution.is_tpu(strategy):
        return True
    capability = gpu_compute_capability()
    if capability is not None:
        return capability >= BF16_GPU_CAPABILITY
    return bool(cpu_bfloat16_flags())


def emulates_bfloat16_slowly(strategy=None):
    """Whether `mixed_bfloat16` trains much slower than float32 here: on a
    processor without bfloat16 units (`has_fast_bfloat16`) TensorFlow's
    kernels emulate it (~8x slower on an AMD EPYC without AVX-512), while
    XLA on Keras' JAX backend computes it at about float32's speed
    (docs/performance.md, "float32 and bfloat16").

    Args:
        strategy: a `tf.distribute` strategy or `None`.

    Returns:
        bool.
    """
    import keras

    return keras.backend.backend() != "jax" and \
        not has_fast_bfloat16(strategy)


def cpu_bfloat16_flags(cpuinfo="/proc/cpuinfo"):
    """The CPU's bfloat16 flags, from `cpuinfo` (Linux).

    Args:
        cpuinfo: str. The file listing the CPU flags.

    Returns:
        A sorted list of the flags of `BF16_CPU_FLAGS` the CPU has (empty
        where the file is missing, e.g. off Linux).
    """
    return sorted(set(BF16_CPU_FLAGS) & cpu_flags(cpuinfo))


def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """Every flag of the first CPU in `cpuinfo`, a set (empty if missing)."""
    if not os.path.exists(cpuinfo):
        return set()
    with open(cpuinfo, errors="replace") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key.strip() in ("flags", "Features"):
                return set(value.split())
    return set()


def cpu_model(cpuinfo="/proc/cpuinfo"):
    """The CPU's model name from `cpuinfo`, or `platform.processor()`."""
    if os.path.exists(cpuinfo):
        with open(cpuinfo, errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    return value.strip()
    import platform

    return platform.processor() or "unknown"


def gpu_compute_capability():
    """The first GPU's CUDA compute capability, `(major, minor)`, or `None`
    without a GPU (or one the backend cannot describe)."""
    from one_keras.utils import backends

    if not backends.has_gpu():
        return None
    name = backends.backend()
    if name == "tensorflow":
        import tensorflow as tf

        details = tf.config.experimental.get_device_details(
            tf.config.list_physical_devices("GPU")[0])
        capability = details.get("compute_capability")
        return tuple(capability) if capability else None
    if name == "torch":
        import torch

        return tuple(torch.cuda.get_device_capability(0))
    import jax

    capability = getattr(jax.devices()[0], "compute_capability", None)
    if not capability:
        return None
    return tuple(int(part) for part in str(capability).split(".")[:2])

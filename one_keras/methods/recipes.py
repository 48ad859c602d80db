"""Training recipes: the paper's (default) and the authors' code's.

REFERENCE.md section 3 lists where they differ. A recipe only fills the
options a config leaves unset (`None`); a value given explicitly (a flag on
the command line or in a flagfile, a `TrainConfig` argument) always wins.

| option | `"paper"` | `"code"` |
|---|---|---|
| `nesterov` | `True` | `False` |
| a method's options | its `Method.recipes` | its `Method.recipes` |
| `block` (CIFAR ResNet) | `"basic"` | `"bottleneck"` for depth >= 44 |
"""

RECIPES = ("paper", "code")
# The authors' code switches to bottleneck blocks from this depth on, so its
# "ResNet-110" is the 164-layer bottleneck net (REFERENCE.md section 1).
CODE_BOTTLENECK_MIN_DEPTH = 44


def recipe_defaults(recipe, method, model, depth):
    """The values `recipe` gives to options left unset.

    Args:
        recipe: str. `"paper"` or `"code"`.
        method: str. The training method (its own options' recipe values
            are its `Method.recipes`, which `methods.resolve_options`
            adds).
        model: str. The backbone name (`block` shapes `"resnet"` only).
        depth: int. The ResNet depth.

    Returns:
        A dict: option name -> value.
    """
    code = recipe == "code"
    bottleneck = (code and model == "resnet"
                  and depth >= CODE_BOTTLENECK_MIN_DEPTH)
    values = {"nesterov": not code,
              "block": "bottleneck" if bottleneck else "basic"}
    return values

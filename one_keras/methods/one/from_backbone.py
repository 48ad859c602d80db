"""`from_backbone`: turns any functional Keras classifier into a ONE model."""

import keras

from one_keras.methods.one.one_model import ONEModel
from one_keras.methods.one.one_network import GATE
from one_keras.methods.one.one_network import GATES
from one_keras.methods.one.one_network import NUM_BRANCHES
from one_keras.methods.one.one_network import build_one_network
from one_keras.models.initializers import dense_initializers
from one_keras.utils import validation


def from_backbone(model, split_layer, num_branches=NUM_BRANCHES,
                  num_classes=None, gate=GATE, name=None,
                  **one_model_kwargs):
    """Splits a functional Keras model into a shared trunk and ONE branches.

    The layers up to and including `split_layer` become the shared trunk:
    the very same layer objects, with their weights. Every layer after it is
    rebuilt once per branch from its config, with fresh weights and the name
    `f"branch{i}_{original_name}"`, by replaying the model's graph from the
    split layer's output to the model's output. The learned gate reads the
    split layer's output.

    The branches must output logits: a final softmax is removed (a trailing
    `Softmax` or `Activation("softmax")` layer is dropped; a `Dense` (or any
    layer) with a softmax activation is rebuilt with a linear one), also
    when only layers that keep probabilities (`Reshape`, `Flatten`,
    `Identity`, `Dropout`, a linear `Activation`) follow it. A model that
    ends in neither a `Dense` nor a softmax (e.g. `include_top=False,
    pooling="avg"`: pooled features; a keras-hub backbone: feature maps)
    needs `num_classes`. The last layer of each branch is named
    `f"branch{i}_logits"`. With `num_classes`, the final `Dense` classifier
    is rebuilt with `num_classes` units (or, when the model does not end in
    a `Dense`, a new `Dense(num_classes)` is appended, after a global
    average pooling `f"branch{i}_features_pool"` when the model ends in
    feature maps or tokens). Branch 0 with the trunk,
    `ONEModel.target_model()`, then has the original architecture and,
    without a new `num_classes`, its parameter count.

    A nested model with one input and one output (a keras-hub
    `ImageClassifier`'s backbone, a `Sequential` inside a model) is
    replaced by its own layers, so `split_layer` may name a layer inside
    it, or the nested model itself (the split falls after its last
    layer). A keras-hub task's image converter (`x * scale + offset` on
    0-255 pixels, applied outside its graph) becomes the `normalization`, unless
    one is given.

    The split must cut the graph in two: every path from the input to the
    output must pass through `split_layer`'s output (no skip connection
    may cross it), the layer must be used once, and at least one layer must
    follow it. The error for an invalid split lists the layers where it is
    valid.

    Paper: https://arxiv.org/abs/1806.04606

    Args:
        model: `keras.Model`. A functional or `Sequential` model with one
            input and one output (subclassed models have no graph to split),
            e.g. a `keras.applications` model or a keras-hub image backbone
            or `ImageClassifier`.
        split_layer: str. Name of the last layer of the shared trunk.
        num_branches: int. Branches `m + 1`, >= 1. Defaults to `3`.
        num_classes: int or `None`. Number of classes of the new classifier;
            `None` keeps the model's own (refused when the model ends in
            features, not a classifier). Defaults to `None`.
        gate: str. `"learned"` or `"average"`. Defaults to `"learned"`.
        name: str or `None`. Name of the ONE network. Defaults to
            `f"one_{model.name}"`.
        **one_model_kwargs: passed to `one_keras.ONEModel` (`temperature`,
            `kl_weight`, `kl_rampup_epochs`, `weight_decay`,
            `normalization`).

    Returns:
        A `one_keras.ONEModel`. Compile it with an optimizer and call `fit`.

    Example:
    ```python
    backbone = keras.applications.MobileNetV2(
        weights=None, input_shape=(32, 32, 3), classes=10)
    model = one_keras.from_backbone(backbone, split_layer="block_15_add")
    model.compile(optimizer="sgd")
    model.fit(images, labels)
    target = model.target_model()  # MobileNetV2, its parameter count
    ```
    """
    validation.check_int_at_least("num_branches", num_branches, 1)
    validation.check_choice("gate", gate, GATES)
    if num_classes is not None:
        validation.check_int_at_least("num_classes", num_classes, 2)
    inputs, output = _functional_endpoints(model)
    graph = _Graph(output)
    graph.check_classifier(num_classes, model)
    split = graph.split_position(split_layer, model)
    trunk_output = graph.nodes[split].outputs[0]

    def build_branch(features, prefix):
        return graph.replay_after(split, features, prefix, num_classes)

    network = build_one_network(inputs, trunk_output, build_branch,
                                num_branches=num_branches, gate=gate,
                                name=name or f"one_{model.name}")
    if "normalization" not in one_model_kwargs:
        one_model_kwargs["normalization"] = _converter_normalization(model)
    return ONEModel(network, **one_model_kwargs)


def _converter_normalization(model):
    """The `normalization` equal to the `scale` and `offset` of a keras-hub
    task's image converter (`x * scale + offset` on 0-255 pixels), or
    `None` for a model without one."""
    preprocessor = getattr(model, "preprocessor", None)
    converter = getattr(preprocessor, "image_converter", None)
    scale = getattr(converter, "scale", None)
    offset = getattr(converter, "offset", None)
    if scale is None and offset is None:
        return None
    scale = [float(v) for v in keras.tree.flatten(
        1.0 if scale is None else scale)]
    offset = [float(v) for v in keras.tree.flatten(
        0.0 if offset is None else offset)]
    if len(scale) == 1:
        scale = scale * len(offset)
    if len(offset) == 1:
        offset = offset * len(scale)
    # x * s + o = (x / 255 - mean) / std with std = 1 / (255 s), mean = -o std.
    std = [1.0 / (255.0 * s) for s in scale]
    return {"mean": [-o * d for o, d in zip(offset, std)], "std": std}


def _functional_endpoints(model):
    """Returns the single input and output tensors of `model`'s graph."""
    if isinstance(model, keras.Sequential):
        return _sequential_as_functional(model)
    if not isinstance(model, keras.Model):
        raise ValueError("`model` must be a functional `keras.Model`. "
                         f"Received: model={model!r}")
    try:
        inputs, outputs = model.inputs, model.outputs
    except AttributeError:
        inputs = outputs = None
    if not inputs or not outputs:
        raise ValueError(
            "`model` must be a functional (or Sequential) `keras.Model`: a "
            "subclassed model has no layer graph to split. Received: "
            f"model={model.name!r} of type {type(model).__name__}")
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(
            "`model` must have one input and one output to be split into ONE "
            f"branches. Received: {len(inputs)} inputs and {len(outputs)} "
            f"outputs ({model.name!r})")
    return _inline_nested_models(inputs[0], outputs[0])


def _sequential_as_functional(model):
    """Replays a built `Sequential`'s layers on a new input (same weights)."""
    try:
        model_input = model.inputs[0]
    except (AttributeError, IndexError, ValueError):
        raise ValueError(
            "`model` is a Sequential model without a known input shape; "
            "start it with `keras.Input(shape)`. Received: "
            f"model={model.name!r}") from None
    inputs = keras.Input(batch_shape=model_input.shape,
                         dtype=model_input.dtype, name=f"{model.name}_input")
    x = inputs
    for layer in model.layers:
        x = layer(x)
    return _inline_nested_models(inputs, x)


def _inlinable_graph(operation):
    """`(input, output)` of a nested model with one input and one output
    whose layers can be replayed in the outer graph, else `None`."""
    if not isinstance(operation, keras.Model):
        return None
    try:
        inputs, outputs = operation.inputs, operation.outputs
    except (AttributeError, ValueError):
        return None
    if not inputs or not outputs or len(inputs) != 1 or len(outputs) != 1:
        return None
    return inputs[0], outputs[0]


def _inline_nested_models(inputs, output):
    """The graph from `inputs` to `output` with every nested functional
    model (a keras-hub task's backbone, a `Sequential` inside a model)
    replaced by its own layers, the same objects with their weights, so a
    split may fall inside it. Unchanged when nothing is nested."""
    nodes = _Graph._topological_nodes(output)
    if not any(_inlinable_graph(node.operation) for node in nodes):
        return inputs, output
    flat_inputs = keras.Input(batch_shape=inputs.shape, dtype=inputs.dtype,
                              name=_producer(inputs).operation.name)
    tensors = {id(inputs): flat_inputs}
    _replay(nodes, tensors)
    return flat_inputs, tensors[id(output)]


def _replay(nodes, tensors):
    """Calls each node's operation again on the tensors mapped in
    `tensors` (by the id of the original), inlining nested models."""
    for node in nodes:
        if node.is_input:
            continue
        args, kwargs = node.arguments.fill_in(tensors)
        nested = _inlinable_graph(node.operation)
        arguments = [t for t in keras.tree.flatten((args, kwargs))
                     if isinstance(t, keras.KerasTensor)]
        if nested is not None and len(arguments) == 1:
            nested_input, nested_output = nested
            nested_tensors = {id(nested_input): arguments[0]}
            _replay(_Graph._topological_nodes(nested_output),
                    nested_tensors)
            outputs = nested_tensors[id(nested_output)]
        else:
            outputs = node.operation(*args, **kwargs)
        for old, new in zip(node.outputs, keras.tree.flatten(outputs)):
            tensors[id(old)] = new


def _producer(tensor):
    """The graph node that computed the symbolic `tensor`."""
    operation, node_index, _ = tensor._keras_history
    return operation._inbound_nodes[node_index]


def _is_softmax_layer(operation):
    """Whether `operation` is a separate softmax layer (dropped in branches)."""
    if isinstance(operation, keras.layers.Softmax):
        return True
    return isinstance(operation, keras.layers.Activation) and \
        _activation_name(operation) == "softmax"


def _activation_name(operation):
    """The name of a layer's `activation` in its config, or `None`."""
    if not isinstance(operation, keras.layers.Layer):
        return None
    activation = operation.get_config().get("activation")
    if isinstance(activation, dict):  # A serialized function.
        activation = activation.get("config", activation.get("class_name"))
    return activation if isinstance(activation, str) else None


# Layers that move or drop values without mixing them: a softmax before
# them still makes the model's output probabilities.
_PASS_THROUGH = (keras.layers.Reshape, keras.layers.Flatten,
                 keras.layers.Identity, keras.layers.Dropout)


def _passes_through(operation):
    """Whether `operation` keeps a softmax's output probabilities."""
    if isinstance(operation, _PASS_THROUGH):
        return True
    return isinstance(operation, keras.layers.Activation) and \
        _activation_name(operation) == "linear"


# Global average pooling by the rank of the features it pools: tokens,
# feature maps, volumes (the channel axis as in keras.config).
_GLOBAL_POOLING = {3: keras.layers.GlobalAveragePooling1D,
                   4: keras.layers.GlobalAveragePooling2D,
                   5: keras.layers.GlobalAveragePooling3D}


class _Graph:
    """The nodes computing a functional model's output, in topological order.

    A split after node `k` is valid when the only tensor computed at or
    before position `k` and consumed after it is node `k`'s output: then
    every path from the input to the output passes through that tensor
    (it is an articulation point of the graph), whatever the topological
    order.

    Args:
        output: `keras.KerasTensor`. The model's output.
    """

    def __init__(self, output):
        self.output = output
        self.nodes = self._topological_nodes(output)
        self.position = {id(node): k for k, node in enumerate(self.nodes)}
        self.last = len(self.nodes) - 1
        # The softmax that makes the output probabilities: a softmax layer
        # (`dropped`, skipped in the branches) or a layer with a softmax
        # activation (`linearized`, rebuilt linear), at the end or followed
        # only by layers that keep probabilities (Reshape, Flatten, ...).
        self.dropped = self.linearized = None
        self._find_softmax()
        # The last node whose layer is kept in the branches.
        self.head = self.last - 1 if self.dropped == self.last else self.last
        # The first position after which no split is valid: the branches
        # need a layer with weights before the output or the softmax.
        self.split_end = (self.dropped - 1 if self.dropped is not None else
                          self.linearized if self.linearized is not None
                          else self.head)
        self._live_ranges = self._tensor_live_ranges()

    def _find_softmax(self):
        """Sets `dropped` or `linearized`: the softmax nearest the output
        through a chain of single-input pass-through layers, if any."""
        k = self.last
        while k > 0:
            operation = self.nodes[k].operation
            inputs = self.nodes[k].input_tensors
            if _is_softmax_layer(operation):
                if len(inputs) == 1 and self.position[
                        id(_producer(inputs[0]))] == k - 1:
                    self.dropped = k
                return
            if _activation_name(operation) == "softmax":
                self.linearized = k
                return
            if not _passes_through(operation) or len(inputs) != 1 or \
                    self.position[id(_producer(inputs[0]))] != k - 1:
                return
            k -= 1

    def check_classifier(self, num_classes, model):
        """Refuses a model whose output is not class scores when no
        `num_classes` asks for a new classifier."""
        head = self.nodes[self.head].operation
        if num_classes is not None or isinstance(head, keras.layers.Dense) \
                or self.dropped is not None or self.linearized is not None:
            return
        shape = self.nodes[self.head].outputs[0].shape
        if len(shape) > 2:
            features = (f"its outputs of shape {tuple(shape[1:])} are "
                        "feature maps")
            appended = "global average pooling and a Dense classifier"
        else:
            features = f"its {shape[-1]} outputs are features"
            appended = "a Dense classifier"
        raise ValueError(
            f"`num_classes` must be given: model {model.name!r} ends in "
            f"layer {head.name!r} ({type(head).__name__}), not in a "
            f"classifier (a Dense layer or a softmax), so {features}, not "
            f"class logits. Pass num_classes to append {appended} to each "
            f"branch. Received: num_classes=None")

    @staticmethod
    def _topological_nodes(output):
        """Nodes computing `output`, inputs first (iterative depth-first)."""
        order, done = [], set()
        stack = [(_producer(output), False)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in done:
                continue
            if expanded:
                done.add(id(node))
                order.append(node)
                continue
            stack.append((node, True))
            for tensor in reversed(node.input_tensors):
                parent = _producer(tensor)
                if id(parent) not in done:
                    stack.append((parent, False))
        return order

    def _tensor_live_ranges(self):
        """`(tensor, producer position, last consumer position)` for each
        tensor; the model output lives past the last node."""
        last_use = {id(self.output): len(self.nodes)}
        for k, node in enumerate(self.nodes):
            for tensor in node.input_tensors:
                last_use[id(tensor)] = max(last_use.get(id(tensor), k), k)
        ranges = []
        for k, node in enumerate(self.nodes):
            for tensor in node.outputs:
                if id(tensor) in last_use:
                    ranges.append((tensor, k, last_use[id(tensor)]))
        return ranges

    def crossing_tensors(self, position):
        """Tensors computed at or before `position` and consumed after it."""
        return [(tensor, start, end) for tensor, start, end in
                self._live_ranges if start <= position < end]

    def _positions_of_operations(self):
        positions = {}
        for k, node in enumerate(self.nodes):
            positions.setdefault(id(node.operation), []).append(k)
        return positions

    def split_problem(self, position, uses):
        """Why the graph cannot be split after `position`, or `None`."""
        node = self.nodes[position]
        if node.is_input:
            return ("it is the input: the shared trunk would be empty")
        if position >= self.split_end:
            return ("no layer would be left for the branches (it is the "
                    "last layer" + (" before the final softmax" if
                                    self.dropped is not None and
                                    position < self.dropped else "") + ")")
        if uses > 1:
            return (f"the layer is called {uses} times in the model, so its "
                    "output is not a single tensor")
        if len(node.outputs) != 1:
            return "the layer has several outputs"
        if any(tensor is not node.outputs[0] for tensor, _, _ in
               self.crossing_tensors(position)):
            return self._bypass(position)
        trunk_operations = {id(n.operation) for n in self.nodes[:position + 1]}
        for later in self.nodes[position + 1:]:
            if id(later.operation) in trunk_operations:
                return (f"layer {later.operation.name!r} is used both in the "
                        "trunk and after the split, so it cannot get fresh "
                        "weights in each branch")
        return None

    def _bypass(self, position):
        """Describes a path from the input to the output that avoids the
        output of the node at `position`."""
        ancestors, stack = set(), [self.nodes[position]]
        while stack:
            node = stack.pop()
            if id(node) not in ancestors:
                ancestors.add(id(node))
                stack.extend(_producer(t) for t in node.input_tensors)
        split_output = self.nodes[position].outputs[0]
        for node in self.nodes:
            if id(node) in ancestors:
                continue
            for tensor in node.input_tensors:
                if tensor is not split_output and \
                        id(_producer(tensor)) in ancestors:
                    return (f"the output of layer "
                            f"{_producer(tensor).operation.name!r} (in the "
                            f"trunk) also feeds layer {node.operation.name!r},"
                            " which does not lead to the split: a skip "
                            "connection or a parallel path crosses it")
        return "a skip connection or a parallel path crosses it"

    def valid_split_layers(self):
        """Names of the layers after which the graph can be split."""
        uses = self._positions_of_operations()
        return [self.nodes[k].operation.name for k in range(len(self.nodes))
                if self.split_problem(
                    k, len(uses[id(self.nodes[k].operation)])) is None]

    def _positions_named(self, name):
        """Positions of the nodes whose layer is named `name`."""
        return [k for k, node in enumerate(self.nodes)
                if node.operation.name == name]

    def split_position(self, split_layer, model):
        """The position of `split_layer`'s node; raises if it cannot split."""
        uses = self._positions_of_operations()
        matches = self._positions_named(split_layer)
        if not matches:
            # An inlined nested model is split after its last layer.
            last = _last_layer_of_nested(model, split_layer)
            matches = self._positions_named(last) if last else []
        if not matches:
            problem = "no layer of the model has this name"
            nested = _nested_owner(model, split_layer)
            if nested is not None:
                problem = (f"it is inside the nested model {nested!r}; only "
                           "the model's own layers can be split at")
        else:
            problem = self.split_problem(matches[0], len(uses[id(
                self.nodes[matches[0]].operation)]))
        if problem is None:
            return matches[0]
        valid = ", ".join(repr(n) for n in self.valid_split_layers())
        raise ValueError(
            "`split_layer` must name a layer after which the model's graph "
            "can be cut into a trunk and a branch; this one does not: "
            f"{problem}. Layers where the split is valid: "
            f"[{valid or 'none'}]. Received: split_layer={split_layer!r}")

    def replay_after(self, position, features, prefix, num_classes):
        """Rebuilds the nodes after `position` on `features`, with fresh
        layers named `prefix + name`; returns the branch logits."""
        tensors = {id(self.nodes[position].outputs[0]): features}
        clones = {}
        for k in range(position + 1, self.head + 1):
            node = self.nodes[k]
            operation = node.operation
            if k == self.dropped:  # The branch's output stays logits.
                tensors[id(node.outputs[0])] = tensors[id(
                    node.input_tensors[0])]
                continue
            if id(operation) not in clones:
                clones[id(operation)] = self._clone(operation, prefix, k,
                                                    num_classes)
            args, kwargs = node.arguments.fill_in(tensors)
            outputs = clones[id(operation)](*args, **kwargs)
            for old, new in zip(node.outputs, keras.tree.flatten(outputs)):
                tensors[id(old)] = new
        logits = tensors[id(self.nodes[self.head].outputs[0])]
        if self._head_becomes_logits(num_classes):
            return logits
        if num_classes is not None:
            if len(logits.shape) in _GLOBAL_POOLING:  # Maps, tokens.
                logits = _GLOBAL_POOLING[len(logits.shape)](
                    name=f"{prefix}features_pool")(logits)
            kernel, bias = dense_initializers(logits.shape[-1])
            return keras.layers.Dense(
                num_classes, kernel_initializer=kernel, bias_initializer=bias,
                name=f"{prefix}logits")(logits)
        return keras.layers.Identity(name=f"{prefix}logits")(logits)

    def _head_becomes_logits(self, num_classes):
        """Whether the head's clone is the branch's logits layer (else a
        new Dense or an Identity is appended)."""
        head = self.nodes[self.head].operation
        if isinstance(head, keras.layers.Dense):
            return True
        return num_classes is None and isinstance(head, keras.layers.Layer)

    def _clone(self, operation, prefix, position, num_classes):
        """A fresh copy of `operation` (stateless ops are shared as they
        are); the head layer becomes the linear `f"{prefix}logits"`."""
        if not isinstance(operation, keras.layers.Layer):
            return operation
        config = operation.get_config()
        config["name"] = f"{prefix}{operation.name}"
        if operation.name == "logits":  # E.g. MobileNetV3's 1x1 Conv2D
            # before a Flatten head: `f"{prefix}logits"` names the head.
            config["name"] = (f"{prefix}logits_"
                              f"{type(operation).__name__.lower()}")
        if position == self.linearized:
            config["activation"] = "linear"
        if position == self.head and self._head_becomes_logits(num_classes):
            config["name"] = f"{prefix}logits"
            if isinstance(operation, keras.layers.Dense):
                if config.get("activation") == "softmax":
                    config["activation"] = "linear"
                if num_classes is not None:
                    config["units"] = num_classes
                    config["activation"] = "linear"
        return operation.__class__.from_config(config)


def _last_layer_of_nested(model, name):
    """Name of the layer that ends the nested model `name` of `model` (at
    any depth) where it is inlined (`_inlinable_graph`: its own name is
    gone from the flat graph), else `None`."""
    for layer in model.layers:
        if not isinstance(layer, keras.Model):
            continue
        graph = _inlinable_graph(layer)
        if layer.name == name and graph is not None:
            last = _producer(graph[1]).operation
            return _last_layer_of_nested(layer, last.name) or last.name
        found = _last_layer_of_nested(layer, name)
        if found is not None:
            return found
    return None


def _nested_owner(model, layer_name):
    """Name of the nested model of `model` holding `layer_name`, or `None`."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            try:
                layer.get_layer(layer_name)
            except ValueError:
                nested = _nested_owner(layer, layer_name)
                if nested is not None:
                    return f"{layer.name}/{nested}"
            else:
                return layer.name
    return None

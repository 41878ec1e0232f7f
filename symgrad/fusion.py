"""Elementwise fusion: which nodes share one loop nest (each op says how it
fuses: its ``fusion`` attribute).

Every elementwise node, and every reduction (a one-operand einsum, max, min),
gets a stage: the earliest point at which its inputs are complete. Elementwise
nodes of one shape at one stage become one loop with several outputs, together
with the reductions over that shape that consume them (reductions fused with
their producer). An input of a different shape, or from another kind of
kernel, is complete only after that kernel runs, which puts the consumer at a
later stage; so a loop never waits for its own result and the plan is
acyclic. Views (reshape, transpose, broadcast, static slices) cost nothing and are resolved
where they are used.
"""
from dataclasses import dataclass, field


def is_pointwise(node):
    return node.op.fusion == "pointwise"


def is_reduction(node):
    return node.op.fusion == "reduction"


def loop_shape(node):
    """The shape a fusable node loops over (its operand's, for a reduction)."""
    return node.inputs[0].shape if is_reduction(node) else node.shape


@dataclass
class FusedLoop:
    """One loop nest: ``members`` in graph order, over ``shape``."""
    shape: tuple
    members: list = field(default_factory=list)


@dataclass
class Plan:
    """``steps`` in execution order: FusedLoop or a single node (another kernel);
    ``loop_of`` maps fused nodes to their loop."""
    steps: list
    loop_of: dict


def plan(order):
    """The fusion plan for ``order`` (a topological order of the needed nodes)."""
    stage, ready, kernels = {}, {}, []
    for position, node in enumerate(order):
        if not node.inputs:
            ready[node] = 0
            continue
        if node.op.fusion == "view":
            ready[node] = ready[node.inputs[0]]
            continue
        if is_pointwise(node) or is_reduction(node):
            def available(i):
                fusable = is_pointwise(i) and i.shape == loop_shape(node)
                return stage[i] if fusable else ready[i]
            s = max(available(i) for i in node.inputs)
        else:
            s = max(ready[i] for i in node.inputs)
            kernels.append((position, node))
        stage[node], ready[node] = s, s + 1
    _sink(order, stage)
    loops, loop_of = {}, {}
    for position, node in enumerate(order):
        if node in stage and (is_pointwise(node) or is_reduction(node)):
            key = (loop_shape(node), stage[node])
            if key not in loops:
                loops[key] = (position, FusedLoop(key[0]))
            loops[key][1].members.append(node)
            loop_of[node] = loops[key][1]
    steps = [((key[1], position), loop) for key, (position, loop) in loops.items()]
    steps += [((stage[node], position), node) for position, node in kernels]
    steps.sort(key=lambda item: item[0])
    return Plan([step for _, step in steps], loop_of)


def _sink(order, stage):
    """Move each pointwise node whose readers all sit in one later loop of its
    shape into that loop: computed where it is read, it needs no array (``b1 *
    m`` of an optimiser's update waits for the gradient's loop instead of
    being stored by an early loop and loaded again). Readers first, so chains
    sink together."""
    users = {}
    for node in order:
        for i in node.inputs:
            users.setdefault(i, []).append(node)
    for node in reversed(order):
        if not is_pointwise(node) or node not in users:
            continue
        readers = users[node]
        stages = {stage.get(u) for u in readers}
        if (len(stages) == 1 and None not in stages
                and all((is_pointwise(u) or is_reduction(u)) and loop_shape(u) == node.shape
                        for u in readers)):
            stage[node] = max(stage[node], stages.pop())

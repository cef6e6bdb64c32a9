"""The backward pass: walk the tape in reverse, iteratively.

The tape is the order in which recorded operations ran (``Function.seq``).  ``backward(root,
grad)`` collects the nodes reachable from ``root`` with an explicit stack (no recursion, so a
chain of any length works), visits them in reverse tape order (every consumer of a Tensor ran
after its producer, so all of a Tensor's gradient is summed before its producer is visited),
and calls each node's ``backward``.  For each input gradient the engine, once for all ops,

1. sums it over broadcast dimensions down to the input's shape (``unbroadcast``; a gradient
   that does not reduce to the input's shape by such sums is an error of the op, never
   reshaped),
2. asserts that its shape and dtype are exactly the input's,
3. adds it to the input's pending gradient (a fresh array: never in place), or, for a leaf,
   to ``leaf.grad``.

Intermediate gradients are dropped as soon as their node has been visited.  The graph itself
(what forward saved) is kept as long as ``root`` lives, so a second ``backward`` is well-defined
and accumulates into the leaves again.
"""
from __future__ import annotations

from ..errors import HalconDLError


def unbroadcast(grad, shape, op: str = 'an op'):
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach ``shape``.

    Broadcasting can only prepend axes and stretch axes of length 1, so those are the only sums
    allowed: the trailing ``len(shape)`` axes of ``grad`` must each equal the input's axis or
    stand where the input has a 1.  Anything else (a transposed gradient, a gradient of the right
    size but another shape) is a bug in ``op``'s backward and raises an AssertionError naming it;
    it is never reshaped into place.
    """
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0 or any(n != 1 and n != m for n, m in zip(shape, grad.shape[extra:])):
        raise AssertionError(f'{op}.backward returned a gradient of shape {grad.shape} for an '
                             f'input of shape {shape}: only broadcast axes may be summed')
    stretched = tuple(extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.sum(axis=tuple(range(extra))) if extra else grad


def _collect(root_node):
    """All nodes reachable from ``root_node``, in reverse tape order."""
    seen = {id(root_node): root_node}
    stack = [root_node]
    while stack:
        node = stack.pop()
        for t in node.inputs:
            if t is not None and t.node is not None and id(t.node) not in seen:
                seen[id(t.node)] = t.node
                stack.append(t.node)
    return sorted(seen.values(), key=lambda n: n.seq, reverse=True)


def backward(root, grad):
    """Accumulate d(root)/d(leaf) · grad into ``leaf.grad`` for every leaf requiring a gradient."""
    if not root.requires_grad:
        raise HalconDLError('backward() on a Tensor that does not require a gradient')
    if grad.shape != root.shape or grad.dtype != root.dtype:
        raise HalconDLError(
            f'backward() gradient must have shape {root.shape} and dtype {root.dtype}, '
            f'got {grad.shape} {grad.dtype}')
    if root.node is None:
        _accumulate_leaf(root, grad)
        return
    pending = {id(root.node): [None] * len(root.node.output_meta)}
    pending[id(root.node)][root.index] = grad
    for node in _collect(root.node):
        grads_out = pending.pop(id(node), None)
        if grads_out is None:
            continue
        grads_out = [g if g is not None else _zeros_like_meta(grad, meta)
                     for g, meta in zip(grads_out, node.output_meta)]
        grads_in = node.backward(*grads_out)
        if not isinstance(grads_in, tuple):
            grads_in = (grads_in,)
        if len(grads_in) != len(node.inputs):
            raise AssertionError(f'{type(node).__name__}.backward returned {len(grads_in)} '
                                 f'gradients for {len(node.inputs)} inputs')
        for t, g in zip(node.inputs, grads_in):
            if t is None or g is None:
                continue
            g = unbroadcast(g, t.shape, type(node).__name__)
            if g.dtype != t.dtype:
                raise AssertionError(f'{type(node).__name__}.backward returned a {g.dtype} '
                                     f'gradient for a {t.dtype} input')
            if t.node is None:
                _accumulate_leaf(t, g)
            else:
                slots = pending.setdefault(id(t.node), [None] * len(t.node.output_meta))
                slots[t.index] = g if slots[t.index] is None else slots[t.index] + g


def _accumulate_leaf(leaf, g):
    # the first gradient is copied: an op may hand the same array to several inputs
    leaf.grad = g.copy() if leaf.grad is None else leaf.grad + g


def _zeros_like_meta(example, meta):
    from ..backend import array_module
    shape, dtype = meta
    return array_module(example).zeros(shape, dtype=dtype)

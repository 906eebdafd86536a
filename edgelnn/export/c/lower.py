"""Step graph -> kernels with a static memory plan.

Kernels:
- ``Fused``: element-wise ops (and the reductions that consume them) computed in one loop nest,
  intermediate values never stored; when every reduced input is zero wherever a constant is
  zero (a wiring mask), the loop visits only the active entries and constants over the loop
  space are stored for those entries only (so flash scales with the active synapses);
- ``MatVec``: y = W x (+ bias) (+ an addend tensor) for a constant W, dense or masked-sparse;
- ``Concat`` and ``Copy``: moves between buffers.
Views (Unsqueeze, Reshape, contiguous Slice/Split) cost nothing: they alias their input.

The memory plan gives every run-time value a place: the caller's ``x``, ``dt``, ``state`` and
``y``, or an offset in one stack arena (first fit over live ranges). A new state is written
over the old one when every read of the old one comes first, else copied at the end.
Everything here is decided from the graph and its constants: no model kind is named.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import UnsupportedError
from .ir import Graph, Node
from .ops import OPS

SPARSE_DENSITY = 0.75      # a masked loop or matrix with at most this share of active entries


@dataclass
class Loc:
    base: str            # "x" | "dt" | "state" | "y" | "tmp" | "const"
    offset: int = 0
    name: str = ""       # const name


@dataclass
class Fused:
    nodes: list[Node]                # member nodes in graph order
    iter_shape: tuple                # loop space (leading 1s stripped)
    reduce_axes: tuple               # axes of iter_shape that are summed/maxed (() = element-wise)
    outputs: list[str]               # values written
    inputs: list[str] = field(default_factory=list)     # run-time values read
    consts: list[str] = field(default_factory=list)     # constant tensors read (non-scalar)
    active: np.ndarray | None = None  # bool over iter_shape: entries visited (sparse loop)
    epilogue: set = field(default_factory=set)   # outputs of members run once per output after the sum
    kind: str = "fused"


@dataclass
class MatVec:
    x: str
    weight: str                      # const (N, K) row-major, alpha folded in
    bias: str | None                 # const (N,) or None
    addend: str | None               # run-time tensor added (in-place accumulation)
    out: str
    n: int
    k: int
    sparse: bool = False
    kind: str = "matvec"

    @property
    def inputs(self):
        return [self.x] + ([self.addend] if self.addend else [])

    @property
    def outputs(self):
        return [self.out]


@dataclass
class Concat:
    parts: list[str]
    out: str
    kind: str = "concat"

    @property
    def inputs(self):
        return list(self.parts)

    @property
    def outputs(self):
        return [self.out]


@dataclass
class Copy:
    src: str
    dst: Loc          # the caller's y or state slot
    n: int
    kind: str = "copy"

    @property
    def inputs(self):
        return [self.src]

    @property
    def outputs(self):
        return []


@dataclass
class Program:
    graph: Graph
    kernels: list
    locs: dict[str, Loc]            # every run-time value and view -> where it lives
    arena: int                      # floats in the stack arena
    sizes: dict[str, int]           # numel of every value
    state_offsets: dict[str, int]
    input_size: int
    output_size: int
    state_size: int
    consts: dict[str, np.ndarray]
    alias: dict = field(default_factory=dict)          # view value -> (base value, offset)

    @property
    def matrices(self) -> set[str]:
        """Constants used as matrix-vector weights."""
        return {k.weight for k in self.kernels if isinstance(k, MatVec)}


def numel(shape) -> int:
    return int(np.prod(shape)) if len(shape) else 1


def strip(shape) -> tuple:
    shape = tuple(int(s) for s in shape)
    i = 0
    while i < len(shape) and shape[i] == 1:
        i += 1
    return shape[i:]


# -- graph rewrites ----------------------------------------------------------------------------
def _gemm_to_matvec_attrs(g: Graph, n: Node) -> None:
    """Gemm/MatMul with a constant right operand -> weight (N, K) and bias in n.attrs."""
    a, b = n.inputs[0], n.inputs[1]
    if b not in g.consts:
        raise UnsupportedError(f"{n.op} {n.name}: the generator needs a constant weight operand")
    if a in g.consts:
        raise UnsupportedError(f"{n.op} {n.name}: constant left operand")
    w = np.asarray(g.consts[b], dtype=np.float32)
    ashape = g.shapes[a]
    if n.op == "Gemm":
        if n.attrs.get("transA", 0):
            raise UnsupportedError(f"Gemm {n.name} with transA")
        w = w if n.attrs.get("transB", 0) else w.T          # -> (N, K)
        w = w * float(n.attrs.get("alpha", 1.0))
    else:
        if w.ndim != 2:
            raise UnsupportedError(f"MatMul {n.name} with a {w.ndim}-d weight")
        w = w.T
    if numel(ashape) != w.shape[1] or (len(ashape) > 1 and numel(ashape[:-1]) != 1):
        raise UnsupportedError(f"{n.op} {n.name}: input {ashape} is not one row of {w.shape[1]}")
    bias, addend = None, None
    if n.op == "Gemm" and len(n.inputs) > 2 and n.inputs[2]:
        c = n.inputs[2]
        beta = float(n.attrs.get("beta", 1.0))
        if c in g.consts:
            cv = np.broadcast_to(np.asarray(g.consts[c], np.float32) * beta, (1, w.shape[0])).reshape(-1)
            bias = cv
        elif beta == 1.0 and numel(g.shapes[c]) == w.shape[0]:
            addend = c
        else:
            raise UnsupportedError(f"Gemm {n.name}: run-time bias with beta {beta}")
    n.attrs["_w"], n.attrs["_b"], n.attrs["_addend"] = w, bias, addend


def fold_scaled_offsets(g: Graph) -> None:
    """k1 * (x - k2) with constant k1, k2 -> k1 * x - (k1 * k2): one multiply-add per element
    (an LTC synapse's sigmoid argument sigma * (v - mu)), the same number of stored values."""
    cons, prod = g.consumers(), g.producer()
    removed, out = set(), []
    for n in g.nodes:
        if n.op == "Mul" and len(n.inputs) == 2:
            for k in (0, 1):
                k1, sub = n.inputs[k], prod.get(n.inputs[1 - k])
                if (k1 in g.consts and sub is not None and sub.op == "Sub" and sub.inputs[1] in g.consts
                        and sub.inputs[0] not in g.consts and len(cons.get(sub.outputs[0], [])) == 1
                        and np.asarray(g.consts[k1]).dtype.kind == "f"
                        and np.asarray(g.consts[sub.inputs[1]]).dtype.kind == "f"):
                    x, k2 = sub.inputs
                    k12 = f"{n.name}.k1k2"
                    g.consts[k12] = (np.asarray(g.consts[k1], np.float32) * np.asarray(g.consts[k2], np.float32))
                    t = f"{n.name}.kx"
                    g.shapes[t] = g.shapes[n.outputs[0]]
                    g.shapes[k12] = tuple(np.shape(g.consts[k12]))
                    removed.add(id(sub))
                    out += [Node("Mul", [k1, x], [t], {}, f"{n.name}.a"),
                            Node("Sub", [t, k12], list(n.outputs), {}, f"{n.name}.b")]
                    break
            else:
                out.append(n)
            continue
        out.append(n)
    g.nodes = [n for n in out if id(n) not in removed]


def rank_one_to_elementwise(g: Graph) -> None:
    """A matrix-vector product over one input (K = 1, e.g. a decay rate times dt) is an
    element-wise multiply-add: rewritten so that it fuses with the ops around it."""
    out = []
    for n in g.nodes:
        w = n.attrs.get("_w") if n.op in ("Gemm", "MatMul") else None
        if w is None or w.shape[1] != 1:
            out.append(n)
            continue
        row, val = f"{n.name}.w_row", n.inputs[0]
        g.consts[row] = np.asarray(w, np.float32).reshape(1, -1)
        y = n.outputs[0]
        shape = g.shapes[y]
        steps = [("Mul", [val, row])]
        if n.attrs.get("_b") is not None:
            g.consts[f"{n.name}.b_row"] = np.asarray(n.attrs["_b"], np.float32).reshape(1, -1)
            steps.append(("Add", [None, f"{n.name}.b_row"]))
        if n.attrs.get("_addend"):
            steps.append(("Add", [None, n.attrs["_addend"]]))
        prev = None
        for i, (op, ins) in enumerate(steps):
            name = y if i == len(steps) - 1 else f"{n.name}.t{i}"
            g.shapes[name] = shape
            out.append(Node(op, [prev if x is None else x for x in ins], [name], {}, f"{n.name}.{op.lower()}{i}"))
            prev = name
    g.nodes = out


def absorb_adds(g: Graph) -> None:
    """Add(MatVec(x), t) -> one MatVec accumulating onto t: no extra buffer or loop
    (LSTM: W_ih x + W_hh h). The matvec moves to the Add's place (both inputs exist there)."""
    cons = g.consumers()
    prod = g.producer()
    moved: dict[int, Node] = {}      # id(add) -> matvec taking its place
    absorbed: set[int] = set()
    for n in g.nodes:
        if n.op != "Add" or any(i in g.consts for i in n.inputs):
            continue
        for k in (0, 1):
            m = prod.get(n.inputs[k])
            other = n.inputs[1 - k]
            if (m is not None and m.op in ("Gemm", "MatMul") and id(m) not in absorbed
                    and m.attrs.get("_addend") is None and other != n.inputs[k]
                    and len(cons.get(m.outputs[0], [])) == 1 and m.outputs[0] not in g.outputs
                    and g.shapes[other] == g.shapes[n.outputs[0]] == g.shapes[m.outputs[0]]):
                m.attrs["_addend"] = other
                m.inputs = list(m.inputs) + [other]        # so that consumers() sees the read
                m.outputs = [n.outputs[0]]
                absorbed.add(id(m))
                moved[id(n)] = m
                break
    g.nodes = [moved.get(id(n), n) for n in g.nodes if id(n) not in absorbed]


# -- fusion ------------------------------------------------------------------------------------
class _Group:
    def __init__(self, iter_shape, axes, reduce):
        self.iter_shape, self.axes, self.reduce = iter_shape, axes, reduce
        self.members: list[Node] = []
        self.epilogue: set[int] = set()     # ids of members computed after the reduction

    @property
    def outer_shape(self) -> tuple:
        return tuple(d for i, d in enumerate(self.iter_shape) if i not in self.axes)


def _descendants(g: Graph) -> dict[int, set[int]]:
    cons = g.consumers()
    order = {id(n): i for i, n in enumerate(g.nodes)}
    desc: dict[int, set[int]] = {}
    for n in reversed(g.nodes):
        s: set[int] = set()
        for o in n.outputs:
            for c in cons.get(o, []):
                s.add(order[id(c)])
                s |= desc[order[id(c)]]
        desc[order[id(n)]] = s
    return desc


def fuse(g: Graph) -> tuple[list[_Group], dict[int, _Group]]:
    """Element-wise/view nodes join the loop of their consumers when they are used only there
    and cover the same number of elements; reductions start loops over their input."""
    cons = g.consumers()
    order = {id(n): i for i, n in enumerate(g.nodes)}
    desc = _descendants(g)
    group_of: dict[int, _Group] = {}
    groups: list[_Group] = []

    def related(a: _Group, b: _Group) -> bool:
        ia = {order[id(m)] for m in a.members}
        ib = {order[id(m)] for m in b.members}
        return any(desc[i] & ib for i in ia) or any(desc[i] & ia for i in ib)

    for n in reversed(g.nodes):
        kind = OPS[n.op].kind
        if kind not in ("elementwise", "reduce", "view"):
            continue
        if kind == "reduce":
            ishape = strip(g.shapes[n.inputs[0]])
            axes = _reduce_axes(g, n)
            grp = _Group(ishape, axes, True)
            grp.members.append(n)
            groups.append(grp)
            group_of[id(n)] = grp
            continue
        out = n.outputs[0]
        users = cons.get(out, [])
        targets = []
        for u in users:
            gu = group_of.get(id(u))
            if gu is None:
                targets = None
                break
            if gu not in targets:
                targets.append(gu)
        shape = strip(g.shapes[out])
        in_shape = strip(g.shapes[n.inputs[0]]) if kind == "view" else shape
        joined = None
        if targets:
            first = targets[0]
            same = all(t.iter_shape == first.iter_shape and t.axes == first.axes and t.reduce == first.reduce
                       for t in targets)
            fits = shape == first.iter_shape and (kind != "view" or in_shape == shape)
            if same and fits and all(not related(a, b) for i, a in enumerate(targets) for b in targets[i + 1:]):
                joined = first
                for t in targets[1:]:                  # merge sibling loops sharing this value
                    for m in t.members:
                        group_of[id(m)] = joined
                    joined.members += t.members
                    groups.remove(t)
        if joined is None:
            if kind == "view":
                continue                               # an alias, no loop
            joined = _Group(shape, (), False)
            groups.append(joined)
        joined.members.append(n)
        group_of[id(n)] = joined
    _merge_epilogues(g, groups, group_of, cons, desc, order)
    for grp in groups:
        grp.members.sort(key=lambda m: order[id(m)])
    return groups, group_of


def _merge_epilogues(g: Graph, groups, group_of, cons, desc, order) -> None:
    """A reduction loop absorbs the element-wise loop that consumes all its results over the
    reduction's output space: those ops run once per output, after the sum, and the sums are
    never stored (LTC: the ODE update after each synapse sum)."""
    prod = g.producer()
    for grp in [x for x in groups if x.reduce]:
        outs = [m.outputs[0] for m in grp.members if OPS[m.op].kind == "reduce"]
        users = {id(u): u for o in outs for u in cons.get(o, [])}
        if not users or any(o in g.outputs for o in outs):
            continue
        targets = {id(group_of.get(uid)) for uid in users}
        if len(targets) != 1 or None in [group_of.get(uid) for uid in users]:
            continue
        epi = group_of[next(iter(users))]
        if epi.reduce or epi.epilogue or epi.iter_shape != grp.outer_shape or epi is grp:
            continue
        mine = {order[id(m)] for m in grp.members}
        below = set().union(*(desc[i] for i in mine))
        members = {id(m) for m in epi.members}
        ok = True
        for m in epi.members:
            for i in m.inputs:
                p = prod.get(i)
                if p is None or id(p) in members or id(p) in {id(x) for x in grp.members}:
                    continue
                if order[id(p)] in below:      # computed from this loop's results outside: a cycle
                    ok = False
        if not ok:
            continue
        for m in epi.members:
            group_of[id(m)] = grp
            grp.epilogue.add(id(m))
        grp.members += epi.members
        groups.remove(epi)


def _reduce_axes(g: Graph, n: Node) -> tuple:
    full = g.shapes[n.inputs[0]]
    axes = None
    if len(n.inputs) > 1 and n.inputs[1]:
        axes = [int(a) for a in np.asarray(g.consts[n.inputs[1]]).reshape(-1)]
    elif "axes" in n.attrs:
        axes = [int(a) for a in n.attrs["axes"]]
    if axes is None:
        axes = list(range(len(full)))
    axes = sorted(a + len(full) if a < 0 else a for a in axes)
    lead = len(full) - len(strip(full))
    if any(a < lead for a in axes if full[a] != 1):
        raise UnsupportedError(f"{n.op} {n.name} over a leading axis")
    return tuple(a - lead for a in axes if a >= lead)


# -- zero analysis (wiring masks) ---------------------------------------------------------------
def _zero_sets(g: Graph, grp: _Group) -> dict[str, np.ndarray]:
    """Entries of each member value that are zero whatever the run-time inputs (a mask)."""
    shape = grp.iter_shape
    zs: dict[str, np.ndarray] = {}
    none = np.zeros(shape, dtype=bool)

    def z(name: str) -> np.ndarray:
        if name in zs:
            return zs[name]
        if name in g.consts:
            v = np.asarray(g.consts[name])
            if v.size == numel(shape) or _broadcasts(strip(v.shape), shape):
                return np.broadcast_to(v.reshape(_aligned(strip(v.shape), shape)) == 0, shape)
        return none

    for m in grp.members:
        if OPS[m.op].kind == "reduce" or id(m) in grp.epilogue:
            continue
        ins = [z(i) for i in m.inputs if i]
        if m.op == "Mul":
            res = ins[0] | ins[1]
        elif m.op in ("Div",):
            res = ins[0]
        elif m.op in ("Neg", "Tanh", "Relu", "Identity", "Abs", "Sqrt", "Unsqueeze", "Squeeze", "Reshape",
                      "Flatten", "LeakyRelu"):
            res = ins[0]
        elif m.op in ("Add", "Sub", "Max", "Min"):
            res = ins[0] & ins[1] if m.op in ("Add", "Sub") else none
        else:
            res = none
        zs[m.outputs[0]] = np.asarray(res, dtype=bool).reshape(shape) if res.shape != shape else res
    return zs


def _aligned(vshape: tuple, shape: tuple) -> tuple:
    vshape = strip(vshape)
    return (1,) * (len(shape) - len(vshape)) + vshape


def _broadcasts(vshape: tuple, shape: tuple) -> bool:
    vshape = strip(vshape)
    if len(vshape) > len(shape):
        return False
    return all(v in (1, s) for v, s in zip(_aligned(vshape, shape), shape))


# -- lowering ------------------------------------------------------------------------------------
def lower(g: Graph) -> Program:
    """Kernels, their order and the memory plan of a folded, shaped graph."""
    for n in g.nodes:
        if n.op in ("Gemm", "MatMul"):
            _gemm_to_matvec_attrs(g, n)
    rank_one_to_elementwise(g)
    fold_scaled_offsets(g)
    absorb_adds(g)
    sizes = {k: numel(v) for k, v in g.shapes.items()}
    groups, group_of = fuse(g)
    cons = g.consumers()
    alias: dict[str, tuple[str, int]] = {}     # view value -> (base value, element offset)
    kernels: list = []
    first_index: dict[int, int] = {}
    order = {id(n): i for i, n in enumerate(g.nodes)}
    made = set()
    for n in g.nodes:
        kind = OPS[n.op].kind
        grp = group_of.get(id(n))
        if grp is not None:
            if id(grp) in made:
                continue
            made.add(id(grp))
            kernels.append(_fused_kernel(g, grp, cons))
            first_index[id(kernels[-1])] = order[id(grp.members[-1])]
            continue
        if kind == "view":
            alias[n.outputs[0]] = _resolve(alias, n.inputs[0], 0)
        elif kind in ("slice", "split"):
            for out, off in _slices(g, n):
                alias[out] = _resolve(alias, n.inputs[0], off)
        elif kind == "concat":
            kernels.append(Concat([i for i in n.inputs], n.outputs[0]))
            first_index[id(kernels[-1])] = order[id(n)]
        elif kind in ("gemm", "matmul"):
            w, b = n.attrs["_w"], n.attrs["_b"]
            wname, bname = f"{n.name}.weight", (f"{n.name}.bias" if b is not None else None)
            g.consts[wname] = w
            if b is not None:
                g.consts[bname] = b
            density = float(np.count_nonzero(w)) / max(w.size, 1)
            kernels.append(MatVec(n.inputs[0], wname, bname, n.attrs["_addend"], n.outputs[0],
                                  w.shape[0], w.shape[1], sparse=density <= SPARSE_DENSITY))
            first_index[id(kernels[-1])] = order[id(n)]
        else:
            raise UnsupportedError(f"op {n.op} ({n.name}) cannot be lowered")
    kernels = _schedule(kernels, first_index, alias)
    return _plan(g, kernels, alias, sizes)


def _resolve(alias, name, offset):
    if name in alias:
        base, off = alias[name]
        return base, off + offset
    return name, offset


def _slices(g: Graph, n: Node) -> list[tuple[str, int]]:
    """(output, element offset) of a Slice/Split that is contiguous in memory; else unsupported."""
    src = g.shapes[n.inputs[0]]
    out = []
    if n.op == "Split":
        axis = int(n.attrs.get("axis", 0))
        axis = axis + len(src) if axis < 0 else axis
        if numel(src[:axis]) != 1:
            raise UnsupportedError(f"Split {n.name} on axis {axis} of {src} is not contiguous")
        inner = numel(src[axis + 1:])
        pos = 0
        for o in n.outputs:
            out.append((o, pos * inner))
            pos += g.shapes[o][axis]
        return out
    starts = np.asarray(g.consts.get(n.inputs[1], [])).reshape(-1)
    axes = (np.asarray(g.consts[n.inputs[3]]).reshape(-1) if len(n.inputs) > 3 and n.inputs[3]
            else np.arange(len(starts)))
    steps = (np.asarray(g.consts[n.inputs[4]]).reshape(-1) if len(n.inputs) > 4 and n.inputs[4]
             else np.ones(len(starts), int))
    if n.inputs[1] not in g.consts or n.inputs[2] not in g.consts:
        raise UnsupportedError(f"Slice {n.name} with run-time bounds")
    dst = g.shapes[n.outputs[0]]
    changed = [int(a) % len(src) for a, s in zip(axes, starts) if True]
    changed = [a for a in changed if dst[a] != src[a]]
    if any(int(s) != 1 for s in steps) or len(changed) > 1:
        raise UnsupportedError(f"Slice {n.name} is not a contiguous block")
    if not changed:
        return [(n.outputs[0], 0)]
    axis = changed[0]
    if numel(src[:axis]) != 1:
        raise UnsupportedError(f"Slice {n.name} on axis {axis} of {src} is not contiguous")
    start = int(starts[list(int(a) % len(src) for a in axes).index(axis)])
    start = start + src[axis] if start < 0 else min(start, src[axis])
    return [(n.outputs[0], start * numel(src[axis + 1:]))]


def _fused_kernel(g: Graph, grp: _Group, cons) -> Fused:
    members = {id(m) for m in grp.members}
    produced = {o for m in grp.members for o in m.outputs}
    outputs, inputs, consts = [], [], []
    for m in grp.members:
        o = m.outputs[0]
        outside = [u for u in cons.get(o, []) if id(u) not in members]
        if outside or o in g.outputs:
            outputs.append(o)
        for i in m.inputs:
            if not i or i in produced:
                continue
            if OPS[m.op].kind == "reduce" and m.inputs.index(i) > 0:
                continue                               # the axes operand
            if i in g.consts:
                if np.asarray(g.consts[i]).size > 1 and i not in consts:
                    consts.append(i)
            elif i not in inputs:
                inputs.append(i)
    k = Fused(list(grp.members), grp.iter_shape, grp.axes, outputs, inputs, consts,
              epilogue={m.outputs[0] for m in grp.members if id(m) in grp.epilogue})
    if grp.reduce and not any(m.op == "ReduceMax" for m in grp.members):
        zs = _zero_sets(g, grp)
        reduced = [m.inputs[0] for m in grp.members if OPS[m.op].kind == "reduce"]
        zero = np.ones(grp.iter_shape, dtype=bool)
        for r in reduced:
            zero &= zs.get(r, np.zeros(grp.iter_shape, dtype=bool))
        # outputs computed inside the loop (not reductions) need every entry
        elementwise_out = [o for o in outputs if o not in k.epilogue and o not in
                           {m.outputs[0] for m in grp.members if OPS[m.op].kind == "reduce"}]
        active = ~zero
        if not elementwise_out and active.mean() <= SPARSE_DENSITY:
            k.active = active
    return k


def _schedule(kernels, first_index, alias) -> list:
    """Topological order of kernels, ties broken by graph order."""
    producer = {}
    for k in kernels:
        for o in _writes(k):
            producer[o] = k
    deps = {id(k): set() for k in kernels}
    for k in kernels:
        for i in k.inputs:
            base = _resolve(alias, i, 0)[0]
            p = producer.get(base)
            if p is not None and p is not k:
                deps[id(k)].add(id(p))
    done, out = set(), []
    pending = sorted(kernels, key=lambda k: first_index.get(id(k), 0))
    while pending:
        for k in pending:
            if deps[id(k)] <= done:
                out.append(k)
                done.add(id(k))
                pending.remove(k)
                break
        else:
            raise UnsupportedError("the fused step graph has a cycle (generator limitation)")
    return out


def _writes(k) -> list[str]:
    return list(k.outputs)


def _index_is_identity(k, name: str, g: Graph) -> bool:
    """Inside an element-wise loop, is ``name`` read at the loop's own index (no broadcast)?"""
    return isinstance(k, Fused) and not k.reduce_axes and strip(g.shapes[name]) == k.iter_shape


def _plan(g: Graph, kernels: list, alias: dict, sizes: dict[str, int]) -> Program:
    locs: dict[str, Loc] = {}
    state_names = g.inputs[2:]
    offsets, pos = {}, 0
    for s in state_names:
        offsets[s] = pos
        pos += sizes[s]
    locs["x"] = Loc("x")
    locs["dt"] = Loc("dt")
    for s in state_names:
        locs[s] = Loc("state", offsets[s])
    out_names = g.outputs
    state_out = dict(zip(out_names[1:], state_names))
    index = {id(k): t for t, k in enumerate(kernels)}
    # reads of every base value: kernel indices
    reads: dict[str, list[tuple[int, str]]] = {}
    for k in kernels:
        for i in k.inputs:
            base = _resolve(alias, i, 0)[0]
            reads.setdefault(base, []).append((index[id(k)], i))
    copies = []
    y_name = out_names[0]
    # State slots hold the old state, then (once it is dead) temporaries of the same size read
    # at the very index they are written, then the new state: every value placed there must be
    # read for the last time before, or in place in, the kernel that writes the next one.
    occupants = {s: [s] for s in state_names}
    final = {s: False for s in state_names}

    def dead_by(v: str, t: int, k) -> bool:
        for r, name in reads.get(v, []):
            if r < t:
                continue
            if r == t and _index_is_identity(k, name, g) and _resolve(alias, name, 0)[1] == 0:
                continue
            return False
        return True

    live: list[tuple[int, int, int, int, str]] = []      # arena: (start, end, offset, size, value)
    arena = 0
    for k in kernels:
        t = index[id(k)]
        for o in _writes(k):
            if o == y_name:
                locs[o] = Loc("y")
                continue
            if o in state_out:                              # the new state: over the old when safe
                s = state_out[o]
                if not final[s] and all(dead_by(v, t, k) for v in occupants[s]):
                    locs[o] = Loc("state", offsets[s])
                    occupants[s].append(o)
                    final[s] = True
                    continue
            last = max([r for r, _ in reads.get(o, [])] + [t])
            if o in out_names:
                last = len(kernels) + 1
            size = sizes[o]
            off = None
            for c in _inplace_candidates(k, g, alias, sizes, size):
                slot = next((s for s in state_names if c in occupants[s]), None)
                if slot is not None:                        # into a state slot whose value dies here
                    if (o not in out_names and not final[slot] and sizes[slot] == size
                            and all(dead_by(v, t, k) for v in occupants[slot])):
                        locs[o] = Loc("state", offsets[slot])
                        occupants[slot].append(o)
                        break
                    continue
                entry = next((e for e in live if e[4] == c), None)
                if entry is None or entry[1] != t or any(r > t for r, _ in reads.get(c, [])):
                    continue
                others = [e for e in live if e is not entry]
                if _free(others, t, last, entry[2], size):
                    off = entry[2]
                    break
            if o in locs:
                continue
            if off is None:
                off = _first_fit(live, t, last, size)
            live.append((t, last, off, size, o))
            locs[o] = Loc("tmp", off)
            arena = max(arena, off + size)
    for name, (base, off) in alias.items():
        if base in g.consts:
            continue
        if base in locs:
            b = locs[base]
            locs[name] = Loc(b.base, b.offset + off, b.name)
    # final copies into the caller's buffers
    for o in out_names:
        dest = Loc("y") if o == y_name else Loc("state", offsets[state_out[o]])
        src = locs.get(o)
        if o in g.consts or src is None or (src.base, src.offset) != (dest.base, dest.offset):
            copies.append(Copy(o, dest, sizes[o]))
    kernels = kernels + _order_copies(copies, locs, offsets)
    return Program(g, kernels, locs, arena, sizes, offsets, sizes["x"], sizes[y_name],
                   sum(sizes[s] for s in state_names), g.consts, dict(alias))


def _order_copies(copies, locs, offsets):
    """State copies must not overwrite a state another copy still reads: read-from-state first."""
    def reads_state(c):
        loc = locs.get(c.src)
        return loc is not None and loc.base == "state"
    return sorted(copies, key=lambda c: not reads_state(c))


def _inplace_candidates(k, g: Graph, alias: dict, sizes: dict, size: int) -> list[str]:
    """Inputs whose buffer the kernel's output may reuse (same size, read at the written index)."""
    if isinstance(k, MatVec):
        return [k.addend] if k.addend and k.addend not in alias and sizes.get(k.addend) == size else []
    if isinstance(k, Fused) and not k.reduce_axes:
        out = []
        for i in k.inputs:
            if i in alias or sizes.get(i) != size or strip(g.shapes[i]) != k.iter_shape:
                continue
            if any(_resolve(alias, j, 0)[0] == i and j != i for j in k.inputs):
                continue                               # also read through a view: not in place
            out.append(i)
        return out
    return []


def _free(live, start, end, off, size) -> bool:
    return all(e < start or s > end or o + sz <= off or off + size <= o for s, e, o, sz, *_ in live)


def _first_fit(live, start, end, size) -> int:
    busy = sorted((off, off + sz) for s, e, off, sz, *_ in live if not (e < start or s > end))
    off = 0
    for a, b in busy:
        if off + size <= a:
            return off
        off = max(off, b)
    return off

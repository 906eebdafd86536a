"""The step cell of an imported model: the user's recurrent module (and head) rebuilt from a
JSON structure, stepped one sample at a time.

A structure is plain data (no pickled code): which module family, its constructor arguments,
the wiring's adjacency matrices and layers for ncps wired modules, and the head as a tree of
known layers or a traced graph of the user's own head class (``models.heads``). The weights come
from the checkpoint's state dict, with the user's own parameter names. Every state tensor of the
module (LSTM h and c of each layer, mixed-memory c, ...) lives in one flat state ``h``, in the
order of :func:`state_parts`, so every exporter sees one state.

Families (``STEPS``): ncps ``CfC`` / ``LTC`` (sequence modules: their ``rnn_cell``, ``lstm``
when ``mixed_memory``, ``fc`` projection), the ncps cells ``CfCCell`` / ``WiredCfCCell`` /
``LTCCell``, and torch.nn ``LSTM`` / ``GRU`` / ``RNN`` (any layers, bias on or off, LSTM
``proj_size``; written out gate by gate, so that exporters see matrix products and
element-wise ops only). torch.nn modules have no time input: their step takes dt and ignores it.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import InputError
from .cells import StepCell
from .heads import LAYERS as HEAD_LAYERS, build_head  # noqa: F401 - HEAD_LAYERS: the importer lists them

KIND = "imported"


class StoredWiring:
    """An ncps wiring rebuilt from its matrices and layers (ncps's own get_config loses the NCP
    layer structure: its seed is not stored)."""

    def __new__(cls, spec: dict):
        from ncps.wirings import Wiring

        class _Stored(Wiring):
            def __init__(self):
                super().__init__(int(spec["units"]))
                self.adjacency_matrix = np.asarray(spec["adjacency_matrix"], dtype=np.int32)
                self.input_dim = int(spec["input_dim"])
                self.sensory_adjacency_matrix = np.asarray(spec["sensory_adjacency_matrix"], dtype=np.int32)
                self.output_dim = int(spec["output_dim"])
                self._layers = [list(map(int, layer)) for layer in spec["layers"]]

            @property
            def num_layers(self):
                return len(self._layers)

            def get_neurons_of_layer(self, layer_id):
                return list(self._layers[layer_id])

        return _Stored()


def wiring_spec(wiring) -> dict:
    return {"units": int(wiring.units), "input_dim": int(wiring.input_dim), "output_dim": int(wiring.output_dim),
            "adjacency_matrix": np.asarray(wiring.adjacency_matrix).astype(int).tolist(),
            "sensory_adjacency_matrix": np.asarray(wiring.sensory_adjacency_matrix).astype(int).tolist(),
            "layers": [list(map(int, wiring.get_neurons_of_layer(i))) for i in range(wiring.num_layers)],
            "type": type(wiring).__name__}


# -- rebuilding the recurrent module ------------------------------------------------------------
def _cfc_cell(a):
    from ncps.torch import CfCCell

    return CfCCell(a["input_size"], a["hidden_size"], mode=a["mode"], backbone_activation=a["activation"],
                   backbone_units=a["backbone_units"], backbone_layers=a["backbone_layers"],
                   backbone_dropout=a["backbone_dropout"])


def _wired_cfc_cell(a):
    from ncps.torch import WiredCfCCell

    return WiredCfCCell(a["input_size"], StoredWiring(a["wiring"]), mode=a["mode"])


def _ltc_cell(a):
    from ncps.torch import LTCCell

    return LTCCell(StoredWiring(a["wiring"]), a["input_size"], input_mapping=a["input_mapping"],
                   output_mapping=a["output_mapping"], ode_unfolds=a["ode_unfolds"], epsilon=a["epsilon"],
                   implicit_param_constraints=a["implicit_param_constraints"])


def _cfc(a):
    from ncps.torch import CfC

    units = StoredWiring(a["wiring"]) if a.get("wiring") else a["units"]
    extra = {} if a.get("wiring") else {"activation": a["activation"], "backbone_units": a["backbone_units"],
                                        "backbone_layers": a["backbone_layers"],
                                        "backbone_dropout": a["backbone_dropout"]}
    return CfC(a["input_size"], units, proj_size=a["proj_size"], return_sequences=True, batch_first=True,
               mixed_memory=a["mixed_memory"], mode=a["mode"], **extra)


def _ltc(a):
    from ncps.torch import LTC

    return LTC(a["input_size"], StoredWiring(a["wiring"]), return_sequences=True, batch_first=True,
               mixed_memory=a["mixed_memory"], input_mapping=a["input_mapping"],
               output_mapping=a["output_mapping"], ode_unfolds=a["ode_unfolds"], epsilon=a["epsilon"],
               implicit_param_constraints=a["implicit_param_constraints"])


def _torch_rnn(cls):
    def build(a):
        kw = {"num_layers": a["num_layers"], "bias": a["bias"], "batch_first": True}
        if cls is nn.LSTM and a.get("proj_size"):
            kw["proj_size"] = a["proj_size"]
        if cls is nn.RNN:
            kw["nonlinearity"] = a["nonlinearity"]
        return cls(a["input_size"], a["hidden_size"], **kw)
    return build


BUILDERS = {"ncps.CfC": _cfc, "ncps.LTC": _ltc, "ncps.CfCCell": _cfc_cell, "ncps.WiredCfCCell": _wired_cfc_cell,
            "ncps.LTCCell": _ltc_cell, "torch.LSTM": _torch_rnn(nn.LSTM), "torch.GRU": _torch_rnn(nn.GRU),
            "torch.RNN": _torch_rnn(nn.RNN)}
TIME_AWARE = {"ncps.CfC", "ncps.LTC", "ncps.CfCCell", "ncps.WiredCfCCell", "ncps.LTCCell"}


def state_parts(structure: dict) -> list[tuple[str, int]]:
    """Named parts of the flat state, in order."""
    t, a = structure["type"], structure["args"]
    if t in ("ncps.CfC", "ncps.LTC"):
        size = a["wiring"]["units"] if a.get("wiring") else a["units"]
        return [("h", size)] + ([("c", size)] if a["mixed_memory"] else [])
    if t == "ncps.CfCCell":
        return [("h", a["hidden_size"])]
    if t in ("ncps.WiredCfCCell", "ncps.LTCCell"):
        return [("h", a["wiring"]["units"])]
    out = []
    h_size = a.get("proj_size") or a["hidden_size"]
    for layer in range(a["num_layers"]):
        out.append((f"h{layer}", h_size))
        if t == "torch.LSTM":
            out.append((f"c{layer}", a["hidden_size"]))
    return out


def _cell_step(cell, x, h, dt):
    """One step of an ncps cell. A WiredCfCCell is stepped here as its forward does, with the
    state cut by slices instead of ``torch.split``: litert-torch cannot lower a split into one
    part (a FullyConnected or Random wiring has a single layer)."""
    from ncps.torch import WiredCfCCell

    if not isinstance(cell, WiredCfCCell):
        return cell(x, h, dt)
    new, inputs, start = [], x, 0
    for layer, size in zip(cell._layers, cell.layer_sizes):
        out, _ = layer(inputs, h[:, start:start + size], dt)
        start += size
        inputs = out
        new.append(out)
    return out, (new[0] if len(new) == 1 else torch.cat(new, dim=1))


class ImportedStep(StepCell):
    """(x, dt, h) -> (head(rnn output), h'): the user's module stepped once, state flattened."""

    def __init__(self, input_size, output_size, units, structure: dict):
        super().__init__()
        kind = structure.get("type")
        if kind not in BUILDERS:
            raise InputError(f"unknown imported module type {kind!r}; known: {', '.join(BUILDERS)}")
        self.kind = kind
        self.args = structure["args"]
        self.rnn = BUILDERS[kind](structure["args"])
        self.head = build_head(structure.get("head"))
        self.parts = state_parts(structure)
        self.state_spec = [("h", sum(size for _, size in self.parts))]
        if kind == "torch.RNN":
            self._act = torch.tanh if self.args["nonlinearity"] == "tanh" else torch.relu
        self.train(False)

    def _split(self, h):
        out, start = [], 0
        for _, size in self.parts:
            out.append(h[:, start:start + size])
            start += size
        return out

    def forward(self, x, dt, h):
        parts = self._split(h)
        if self.kind in ("ncps.CfC", "ncps.LTC"):
            out, new = self._ncps_seq(x, dt, parts)
        elif self.kind in ("ncps.CfCCell", "ncps.WiredCfCCell", "ncps.LTCCell"):
            out, hn = _cell_step(self.rnn, x, parts[0], dt)
            new = [hn]
        else:
            out, new = self._torch_step(x, parts)
        y = self.head(out)
        return y, (new[0] if len(new) == 1 else torch.cat(new, dim=1))

    def _ncps_seq(self, x, dt, parts):
        m = self.rnn
        h = parts[0]
        new_c = []
        if m.use_mixed:
            h, c = m.lstm(x, (h, parts[1]))
            new_c = [c]
        out, h = _cell_step(m.rnn_cell, x, h, dt)
        if self.kind == "ncps.CfC":
            out = m.fc(out)
        return out, [h] + new_c

    def _torch_step(self, x, parts):
        """One step of a torch.nn LSTM/GRU/RNN (eval mode: no dropout between layers)."""
        m, a, new, inp = self.rnn, self.args, [], x
        lstm = self.kind == "torch.LSTM"
        for layer in range(a["num_layers"]):
            w_ih, w_hh = getattr(m, f"weight_ih_l{layer}"), getattr(m, f"weight_hh_l{layer}")
            b_ih = getattr(m, f"bias_ih_l{layer}") if a["bias"] else None
            b_hh = getattr(m, f"bias_hh_l{layer}") if a["bias"] else None
            h = parts[2 * layer if lstm else layer]
            if lstm:
                c = parts[2 * layer + 1]
                gates = F.linear(inp, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
                i, f, g, o = gates.chunk(4, dim=1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                if a.get("proj_size"):
                    h = F.linear(h, getattr(m, f"weight_hr_l{layer}"))
                new += [h, c]
            elif self.kind == "torch.GRU":
                gi, gh = F.linear(inp, w_ih, b_ih), F.linear(h, w_hh, b_hh)
                ir, iz, i_n = gi.chunk(3, dim=1)
                hr, hz, hn = gh.chunk(3, dim=1)
                r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
                n = torch.tanh(i_n + r * hn)
                h = (1.0 - z) * n + z * h
                new.append(h)
            else:
                h = self._act(F.linear(inp, w_ih, b_ih) + F.linear(h, w_hh, b_hh))
                new.append(h)
            inp = h
        return inp, new

    def synapse_masks(self):
        from ncps.torch import LTCCell, WiredCfCCell

        pairs = []
        for sub in self.rnn.modules():
            if isinstance(sub, WiredCfCCell):
                for layer in sub._layers:
                    pairs.append((layer.ff1.weight, layer.sparsity_mask))
                    if hasattr(layer, "ff2"):
                        pairs.append((layer.ff2.weight, layer.sparsity_mask))
            elif isinstance(sub, LTCCell):
                rec, sens = sub.sparsity_mask, sub.sensory_sparsity_mask
                pairs += ([(getattr(sub, n), rec) for n in ("w", "mu", "sigma", "erev")]
                          + [(getattr(sub, f"sensory_{n}"), sens) for n in ("w", "mu", "sigma", "erev")])
        return pairs

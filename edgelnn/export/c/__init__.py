"""C format of the export registry: ``available()``, ``convert()``, ``quantize()``, ``SCHEMES``.

One generator for every kind (``generate.py``) over the fp32 ONNX step graph; each artifact
is a C99 pair ``<name>.step.<scheme>.c`` / ``.h`` that compiles cleanly with
``-std=c99 -Wall -Wextra -Werror -pedantic`` (checked here, before the parity gate) and, when
arm-none-eabi-gcc is installed, gets its microcontroller figures (flash, static RAM,
worst-case stack, state bytes) for every MCU target profile that lists its scheme.
"""
from __future__ import annotations

from .schemes import SCHEMES as _SCHEMES

SCHEMES = tuple(_SCHEMES)
GRAPHS = ("step",)
NO_SEQ = "C artifacts have no sequence graph: <prefix>_run streams a whole sequence through the step code"


def available() -> str | None:
    """None when a host C compiler is here (the parity gate compiles every artifact)."""
    from ...runtime.c.toolchain import CC_HINT, find_cc

    if find_cc() is None:
        return f"C export needs a C compiler to check its artifacts (none found): {CC_HINT}"
    return None


def tool_versions() -> dict[str, str]:
    """Compilers whose output the manifest's figures come from."""
    from ...runtime.c.toolchain import compiler_version, find_cc, find_cross

    out = {}
    cc = find_cc()
    if cc:
        out["cc"] = compiler_version(cc)
    cross = find_cross()
    if cross:
        out["arm-none-eabi-gcc"] = compiler_version(cross)
    return out


from .build import convert, quantize  # noqa: E402

__all__ = ["GRAPHS", "NO_SEQ", "SCHEMES", "available", "convert", "quantize", "tool_versions"]

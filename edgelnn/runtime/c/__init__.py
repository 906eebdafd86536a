"""The ``c`` runtime: generated C artifacts compiled on the machine that runs them (host
shared library through ctypes), plus microcontroller builds (arm-none-eabi-gcc) and the golden
check on an emulated Cortex-M4 (qemu-system-arm). Standard library and numpy only."""
from .toolchain import (CC_HINT, CROSS_HINT, QEMU_HINT, CompileError, build_shared, compiler_version,
                        find_cc, find_cross, require_cc, require_cross)

__all__ = ["CC_HINT", "CROSS_HINT", "QEMU_HINT", "CompileError", "build_shared", "compiler_version",
           "find_cc", "find_cross", "require_cc", "require_cross"]

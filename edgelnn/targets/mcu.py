"""Microcontroller target profiles (``arch`` armv7e-m / armv6-m with an [mcu] table) as build
descriptions for the C runtime's cross-compiler and emulator (``edgelnn.runtime.c.mcu``)."""
from __future__ import annotations

from .errors import ProfileError
from .profile import Profile, load_profile_file, profile_paths


def core_of(profile: Profile):
    """The ``Core`` (build + emulator) of an MCU profile."""
    from ..runtime.c.mcu import Core

    m = profile.mcu
    if m is None:
        raise ProfileError(f"target {profile.name} is not a microcontroller profile (no [mcu] table)")
    return Core(m.core, tuple(m.cflags), m.opt, m.fpu, m.emulator, m.emulator_flash_kb,
                m.emulator_ram_kb, m.stack_kb, m.flash_kb, m.ram_kb)


def mcu_profiles() -> list[Profile]:
    """Every readable MCU profile (a broken user profile is skipped here; `targets list` names it)."""
    out = []
    for _, path in sorted(profile_paths().items()):
        try:
            p = load_profile_file(path)
        except ProfileError:
            continue
        if p.is_mcu:
            out.append(p)
    return out


def mcu_cores(scheme: str) -> list:
    """Cores of the MCU profiles that list ``scheme`` (one per core name)."""
    seen, out = set(), []
    for p in mcu_profiles():
        if scheme in p.schemes and p.mcu.core not in seen:
            seen.add(p.mcu.core)
            out.append(core_of(p))
    return out

"""``edgelnn targets list | show | check | setup``: device profiles and the devices themselves."""
from __future__ import annotations

import json
from typing import Optional

import typer
from rich.table import Table

from .app import app, console, err_console

targets_app = typer.Typer(no_args_is_help=True, help="Device profiles (targets/*.toml) and devices: "
                          "list, show, check (connect and report), setup (venv + runtimes).")
app.add_typer(targets_app, name="targets")

HostOption = typer.Option(None, "--host", help="reach the device at [user@]host[:port] "
                          "instead of the profile's host")


def _progress(msg: str) -> None:
    err_console.print(f"[dim]{msg}[/]", highlight=False, soft_wrap=True)


@targets_app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Every profile found (user folders first, then edgelnn's targets/)."""
    from ..targets import list_profiles

    profiles = list_profiles()
    if as_json:
        console.print_json(json.dumps([p.to_dict() for p in profiles]))
        return
    table = Table(title="edgelnn targets")
    for col in ("name", "arch", "cpu", "cores", "mem MB", "runtimes", "onnx providers", "reach"):
        table.add_column(col)
    for p in profiles:
        mem = (f"{p.mcu.ram_kb} KiB RAM" if p.mcu.ram_kb else "–") if p.is_mcu else str(p.memory_mb or "auto")
        reach = "emulated: qemu-system-arm" if p.is_mcu else (p.connection.address if p.is_remote else "local")
        table.add_row(p.name, p.arch, p.cpu, str(p.cores or ("1" if p.is_mcu else "auto")), mem,
                      " ".join(p.runtimes),
                      "–" if p.is_mcu else " ".join(x.replace("ExecutionProvider", "") for x in p.onnx_providers),
                      reach)
    console.print(table)


@targets_app.command("show")
def show_cmd(name: str = typer.Argument(..., help="profile name or path to a .toml file"),
             as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """One profile, validated, with where it was read from."""
    from ..targets import load_profile

    p = load_profile(name)
    data = p.to_dict()
    if as_json:
        console.print_json(json.dumps(data))
        return
    table = Table(title=f"target {p.name}  ({p.source})", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in data.items():
        if key in ("connection", "source", "name", "mcu"):
            continue
        table.add_row(key, ", ".join(map(str, value)) if isinstance(value, list) else str(value))
    for key, value in data["connection"].items():
        if value not in (None, [], ()):
            table.add_row(f"connection.{key}", ", ".join(value) if isinstance(value, list) else str(value))
    for key, value in (data.get("mcu") or {}).items():
        if value not in (None, [], ()):
            table.add_row(f"mcu.{key}", " ".join(value) if isinstance(value, list) else str(value))
    console.print(table)


def _print_report(rep) -> None:
    f = rep.facts
    table = Table(title=f"{rep.target} @ {rep.address}", show_header=False)
    table.add_column("fact", style="bold")
    table.add_column("value")
    rts = f.get("runtimes") or {}

    def rt(name: str) -> str:
        info = rts.get(name) or {}
        if info.get("ok"):
            extra = ""
            if info.get("providers"):
                extra = " (" + ", ".join(p.replace("ExecutionProvider", "")
                                         for p in info["providers"]) + ")"
            return f"{info.get('version')}{extra}"
        return f"[red]{info.get('error') or 'missing'}[/]"

    rows = [("hostname", f.get("hostname")), ("board", f.get("board")),
            ("architecture", f.get("machine")), ("CPU", f.get("cpu")), ("cores", f.get("cores")),
            ("memory", f"{f.get('memory_mb')} MB"), ("OS", f.get("os")),
            ("kernel", f.get("kernel")), ("Jetson L4T", f.get("jetson_l4t")),
            ("Python", f"{f.get('python')} ({f.get('executable')})"),
            ("numpy", f.get("numpy") or f"[red]{f.get('numpy_error')}[/]"),
            ("onnxruntime", rt("onnxruntime")), ("ai-edge-litert", rt("litert")),
            ("tflite-runtime", rt("tflite-runtime")), ("C compiler", rt("c") if "c" in rts else None),
            ("arm-none-eabi-gcc", f.get("cross_compiler")), ("qemu-system-arm", f.get("emulator")),
            ("torch", f.get("torch") or "not installed"),
            ("free disk", f"{f.get('free_mb')} MB in {f.get('workdir')}")]
    for key, value in rows:
        if value not in (None, "", "None MB"):
            table.add_row(key, str(value))
    console.print(table)
    for line in rep.notes:
        console.print(f"[yellow]note:[/] {line}", highlight=False)
    for line in rep.missing:
        console.print(f"[red]missing:[/] {line}", highlight=False)
    if rep.fix:
        console.print(f"fix: {rep.fix}", highlight=False)
    if rep.ok:
        console.print(f"[green]{rep.target}: ready[/]")


@targets_app.command("check")
def check_cmd(name: str = typer.Argument(..., help="target profile"),
              host: Optional[str] = HostOption,
              as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Connect and report the device's facts and what is missing for the profile."""
    from ..targets import check_target

    rep = check_target(name, host, progress=None if as_json else _progress)
    if as_json:
        console.print_json(json.dumps(rep.to_dict()))
    else:
        _print_report(rep)
    if not rep.ok:
        raise SystemExit(1)


@targets_app.command("setup")
def setup_cmd(name: str = typer.Argument(..., help="target profile"),
              host: Optional[str] = HostOption) -> None:
    """Make a venv on the device and pip-install numpy + the profile's runtimes (never torch)."""
    from ..targets import setup_target

    rep = setup_target(name, host, progress=_progress)
    _print_report(rep)
    if not rep.ok:
        raise SystemExit(1)

"""``edgelnn targets list | show | check | setup``: device profiles and the devices themselves."""
from __future__ import annotations

from typing import Optional

import typer
from rich.markup import escape

from .app import app, new_app
from .output import Col, JsonOption, console, err_console, fail, print_json, show, table

targets_app = new_app(help="Device profiles (targets/*.toml) and devices: "
                      "list, show, check (connect and report), setup (venv + runtimes).")
app.add_typer(targets_app, name="targets")

HostOption = typer.Option(None, "--host", help="reach the device at [user@]host[:port] "
                          "instead of the profile's host")


def _progress(msg: str) -> None:
    err_console.print(f"[dim]{escape(msg)}[/]", highlight=False, soft_wrap=True)


@targets_app.command("list")
def list_cmd(as_json: bool = JsonOption) -> None:
    """Every profile found (user folders first, then edgelnn's targets/)."""
    from ..targets import list_profiles

    profiles = list_profiles()
    if as_json:
        print_json([p.to_dict() for p in profiles])
        return
    t = table("edgelnn targets", [Col("name", ident=True), Col("arch", ident=True), "cpu",
                                  Col("cores", justify="right"), Col("mem MB", justify="right"),
                                  "runtimes", "onnx providers", Col("reach", ident=True)])
    for p in profiles:
        mem = (f"{p.mcu.ram_kb} KiB RAM" if p.mcu.ram_kb else "–") if p.is_mcu else str(p.memory_mb or "auto")
        reach = "emulated: qemu-system-arm" if p.is_mcu else (escape(p.connection.address) if p.is_remote else "local")
        t.add_row(p.name, p.arch, escape(p.cpu), str(p.cores or ("1" if p.is_mcu else "auto")), mem,
                  " ".join(p.runtimes),
                  "–" if p.is_mcu else " ".join(x.replace("ExecutionProvider", "") for x in p.onnx_providers),
                  reach)
    show(t)


@targets_app.command("show")
def show_cmd(name: str = typer.Argument(..., help="profile name or path to a .toml file"),
             as_json: bool = JsonOption) -> None:
    """One profile, validated, with where it was read from."""
    from ..targets import load_profile

    p = load_profile(name)
    data = p.to_dict()
    if as_json:
        print_json(data)
        return
    t = table(f"target {p.name}  ({p.source})", [Col("key", ident=True, style="bold"), "value"],
              show_header=False)
    for key, value in data.items():
        if key in ("connection", "source", "name", "mcu"):
            continue
        t.add_row(key, escape(", ".join(map(str, value)) if isinstance(value, list) else str(value)))
    for key, value in data["connection"].items():
        if value not in (None, [], ()):
            t.add_row(f"connection.{key}", escape(", ".join(value) if isinstance(value, list) else str(value)))
    for key, value in (data.get("mcu") or {}).items():
        if value not in (None, [], ()):
            t.add_row(f"mcu.{key}", escape(" ".join(value) if isinstance(value, list) else str(value)))
    show(t)


def _print_report(rep) -> None:
    f = rep.facts
    t = table(f"{rep.target} @ {rep.address}", [Col("fact", ident=True, style="bold"), "value"],
              show_header=False)
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
            t.add_row(key, str(value))
    show(t)
    for line in rep.notes:
        console.print(f"[yellow]note:[/] {escape(line)}", highlight=False, soft_wrap=True)
    for line in rep.missing:
        console.print(f"[red]missing:[/] {escape(line)}", highlight=False, soft_wrap=True)
    if rep.fix:
        console.print(f"fix: {escape(rep.fix)}", highlight=False, soft_wrap=True)
    if rep.ok:
        console.print(f"[green]{rep.target}: ready[/]")


@targets_app.command("check")
def check_cmd(name: str = typer.Argument(..., help="target profile"),
              host: Optional[str] = HostOption,
              as_json: bool = JsonOption) -> None:
    """Connect and report the device's facts and what is missing for the profile."""
    from ..targets import check_target

    rep = check_target(name, host, progress=None if as_json else _progress)
    if as_json:
        print_json(rep.to_dict())
    else:
        _print_report(rep)
    if not rep.ok:
        fail(f"{rep.target}: {len(rep.missing)} thing(s) missing on the device (see above)")


@targets_app.command("setup")
def setup_cmd(name: str = typer.Argument(..., help="target profile"),
              host: Optional[str] = HostOption, as_json: bool = JsonOption) -> None:
    """Make a venv on the device and pip-install numpy + the profile's runtimes (never torch)."""
    from ..targets import setup_target

    rep = setup_target(name, host, progress=_progress)
    if as_json:
        print_json(rep.to_dict())
    else:
        _print_report(rep)
    if not rep.ok:
        fail(f"{rep.target}: {len(rep.missing)} thing(s) still missing after setup (see above)")

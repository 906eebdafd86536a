"""Device facts, standard library only: what ``edgelnn targets check``, every remote run and the
bench's environment fingerprint read (here, not in ``edgelnn.targets``, so the bench needs no
targets code).

Runs on the device before anything is copied (``python - < probe.py``), so it must work on any
Python 3 a device may have (even too old a one, to say so) and with nothing installed.
Prints one JSON document between the result markers on stdout.
"""
import json
import os
import platform
import shutil
import socket
import sys

BEGIN = "=====edgelnn-result-begin====="
END = "=====edgelnn-result-end====="
MIN_PYTHON = (3, 9)

# Arm CPU part numbers (MIDR) -> core names: /proc/cpuinfo on arm64 has no "model name".
ARM_PARTS = {
    "0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
    "0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76",
    "0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77", "0xd40": "Neoverse-V1", "0xd41": "Cortex-A78",
    "0xd42": "Cortex-A78AE", "0xd44": "Cortex-X1", "0xd46": "Cortex-A510", "0xd47": "Cortex-A710",
    "0xd48": "Cortex-X2", "0xd49": "Neoverse-N2", "0xd4b": "Cortex-A78C", "0xd4d": "Cortex-A715",
    "0xd4e": "Cortex-X3", "0xd4f": "Neoverse-V2", "0xd80": "Cortex-A520", "0xd81": "Cortex-A720",
    "0xd82": "Cortex-X4",
}
# (name in profiles, module to import, pip distribution names)
RUNTIMES = (
    ("onnxruntime", "onnxruntime", ("onnxruntime", "onnxruntime-gpu")),
    ("litert", "ai_edge_litert.interpreter", ("ai-edge-litert",)),
    ("tflite-runtime", "tflite_runtime.interpreter", ("tflite-runtime",)),
)


def _read(path):
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", "replace").replace("\x00", "").strip()
    except OSError:
        return None


def cpu_model():
    """x86 'model name'; Arm core names from the MIDR part numbers (with the board 'Model', e.g.
    a Raspberry Pi, when given); else 'Hardware' / 'cpu model' / 'Processor'; else platform."""
    text = _read("/proc/cpuinfo") or ""
    info, parts = {}, []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        info.setdefault(key, value)
        if key == "CPU part":
            parts.append(value.lower())
    if info.get("model name"):
        return info["model name"]
    names = []
    for p in parts:
        name = ARM_PARTS.get(p, "Arm part " + p)
        if name not in names:
            names.append(name)
    if names:
        cores = " + ".join(names)
        return cores + " (" + info["Model"] + ")" if info.get("Model") else cores
    for key in ("Model", "Hardware", "cpu model", "Processor"):
        if info.get(key):
            return info[key]
    return platform.processor() or platform.machine()


def memory_mb():
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return None


def os_name():
    for line in (_read("/etc/os-release") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return platform.platform()


def dist_version(names):
    try:
        from importlib import metadata
    except ImportError:          # Python < 3.8
        return None
    for name in names:
        try:
            return metadata.version(name)
        except Exception:        # noqa: BLE001 - PackageNotFoundError and broken metadata
            continue
    return None


def free_mb(path):
    path = os.path.expanduser(path or "/tmp")
    while path and not os.path.exists(path):
        path = os.path.dirname(path)
    try:
        return shutil.disk_usage(path or "/").free // (1024 * 1024)
    except OSError:
        return None


def c_compiler_facts():
    """The c runtime: a system C compiler ($CC, cc, gcc or clang) instead of a Python module."""
    import shlex
    import subprocess

    env = os.environ.get("CC")
    argv = shlex.split(env) if env else None
    if not argv:
        for name in ("cc", "gcc", "clang"):
            if shutil.which(name):
                argv = [shutil.which(name)]
                break
    if not argv or not shutil.which(argv[0]):
        return {"version": None, "ok": False,
                "error": "no C compiler (cc, gcc or clang): sudo apt-get install gcc"}
    try:
        out = subprocess.run(argv + ["--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return {"version": None, "ok": False, "error": "%s does not run: %s" % (argv[0], exc)}
    return {"version": (out.splitlines() or ["unknown"])[0].strip(), "ok": True, "error": None}


def runtime_facts(import_them=True):
    out = {"c": c_compiler_facts()}
    for name, module, dists in RUNTIMES:
        entry = {"version": dist_version(dists), "ok": False, "error": None}
        if entry["version"] is None and not import_them:
            out[name] = entry
            continue
        if import_them:
            try:
                mod = __import__(module, fromlist=["_"])
                entry["ok"] = True
                if name == "onnxruntime":
                    entry["version"] = entry["version"] or getattr(mod, "__version__", None)
                    entry["providers"] = list(mod.get_available_providers())
            except Exception as exc:  # noqa: BLE001 - tflite-runtime under numpy 2: AttributeError
                if isinstance(exc, ImportError) and entry["version"] is None:
                    entry["error"] = "not installed"
                else:
                    lines = str(exc).strip().splitlines()
                    entry["error"] = "%s: %s" % (type(exc).__name__, lines[0] if lines else "")
        else:
            entry["ok"] = entry["version"] is not None
        out[name] = entry
    return out


def facts(workdir=None, venv=None, import_runtimes=True):
    numpy_version, numpy_error = None, None
    try:
        import numpy
        numpy_version = numpy.__version__
    except Exception as exc:  # noqa: BLE001
        numpy_error = "not installed" if isinstance(exc, ImportError) else str(exc).splitlines()[0]
    return {
        "hostname": socket.gethostname(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_mb": memory_mb(),
        "board": _read("/proc/device-tree/model"),
        "jetson_l4t": ((_read("/etc/nv_tegra_release") or "").splitlines() or [None])[0],
        "os": os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_ok": sys.version_info[:2] >= MIN_PYTHON,
        "executable": sys.executable,
        "in_venv": sys.prefix != getattr(sys, "base_prefix", sys.prefix),
        "numpy": numpy_version,
        "numpy_error": numpy_error,
        "runtimes": runtime_facts(import_runtimes) if numpy_version else
        runtime_facts(False),
        "torch": dist_version(("torch",)),
        "workdir": workdir,
        "free_mb": free_mb(workdir),
        "venv": venv,
        "venv_free_mb": free_mb(venv) if venv else None,
    }


def emit(doc):
    sys.stdout.write(BEGIN + "\n" + json.dumps(doc) + "\n" + END + "\n")
    sys.stdout.flush()


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    workdir = args[0] if args else None
    venv = args[1] if len(args) > 1 else None
    emit({"ok": True, "facts": facts(workdir, venv)})


if __name__ == "__main__":
    main()

"""The installers: the PyInstaller spec (run against stand-ins for PyInstaller's build classes,
so no build is needed), the icons, where resources are found when frozen, and — when
installers/build_linux.sh has produced a bundle — the bundle's smoke test."""
from __future__ import annotations

import configparser
import os
import pkgutil
import struct
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import pytest

from backend.resources import resource_path, resources_dir

ROOT = Path(__file__).resolve().parents[2]
INSTALLERS = ROOT / "installers"
BUNDLE = INSTALLERS / "dist" / "LayerForge"


class Recorder:
    """Stands in for one of PyInstaller's spec classes (Analysis, PYZ, EXE...): keeps its
    arguments, and for Analysis offers the attributes the spec passes on."""

    made: list["Recorder"] = []

    def __init__(self, kind: str, *args, **kwargs) -> None:
        self.kind, self.args, self.kwargs = kind, args, kwargs
        self.pure = self.scripts = self.binaries = self.datas = []
        Recorder.made.append(self)


def collect_submodules(package: str) -> list[str]:
    """What PyInstaller's helper returns for our packages (it imports nothing here)."""
    path = ROOT / package
    return [package] + [m.name for m in pkgutil.walk_packages([str(path)], f"{package}.")]


@pytest.fixture(scope="module")
def spec():
    """The spec executed as PyInstaller would on ``platform``, recording what it builds."""
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = collect_submodules
    saved = {name: sys.modules.get(name) for name in
             ("PyInstaller", "PyInstaller.utils", "PyInstaller.utils.hooks")}
    sys.modules.update({"PyInstaller": types.ModuleType("PyInstaller"),
                        "PyInstaller.utils": types.ModuleType("PyInstaller.utils"),
                        "PyInstaller.utils.hooks": hooks})
    results = {}
    try:
        for platform in ("linux", "win32", "darwin"):
            Recorder.made = []
            namespace = {"SPECPATH": str(INSTALLERS), "__name__": "__main__"}
            for kind in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE"):
                namespace[kind] = (lambda k: lambda *a, **kw: Recorder(k, *a, **kw))(kind)
            real_platform = sys.platform
            sys.platform = platform  # the spec branches on it (exe kinds, icons, .app)
            try:
                source = (INSTALLERS / "layerforge.spec").read_text()
                exec(compile(source, "layerforge.spec", "exec"), namespace)
            finally:
                sys.platform = real_platform
            results[platform] = (namespace, list(Recorder.made))
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return results


def made(records, kind):
    return [r for r in records if r.kind == kind]


def test_spec_names_the_console_script_as_entry_point(spec):
    namespace, records = spec["linux"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert namespace["ENTRY_POINT"] == scripts["layerforge"] == "app.main:main"
    (analysis,) = made(records, "Analysis")
    (launcher,) = analysis.args[0]
    assert Path(launcher) == INSTALLERS / "launcher.py"
    assert "from app.main import main" in Path(launcher).read_text()
    assert str(ROOT) in analysis.kwargs["pathex"]
    hidden = analysis.kwargs["hiddenimports"]
    assert {"app.main", "app.main_window", "backend.training.train", "backend.data.timeseries",
            "graph.templates"} <= set(hidden)


def test_spec_ships_the_resources_the_app_reads(spec):
    namespace, records = spec["linux"]
    (analysis,) = made(records, "Analysis")
    datas = {Path(src).relative_to(ROOT).as_posix(): dest
             for src, dest in analysis.kwargs["datas"]}
    assert datas["resources/datasets"] == "resources/datasets"
    assert datas["resources/icons"] == "resources/icons"
    assert datas["backend/export/predict_script.py"] == "backend/export"
    assert not any("screenshots" in src for src in datas)
    for src, _ in analysis.kwargs["datas"]:
        assert Path(src).exists(), src
    # every package data file pyproject ships is in the bundle too, in the same folder
    for package in ("app", "graph", "backend"):
        for pattern in ("*.json", "*.csv", "*.txt", "*.md"):
            for path in (ROOT / package).rglob(pattern):
                rel = path.relative_to(ROOT).as_posix()
                assert datas.get(rel) == path.parent.relative_to(ROOT).as_posix(), rel
    assert "triton" in analysis.kwargs["excludes"]
    # torch imports torch.testing._internal when it loads: excluding any of torch breaks it
    assert not [m for m in analysis.kwargs["excludes"] if m.split(".")[0] == "torch"]


def test_spec_builds_one_folder_per_platform(spec):
    _, linux = spec["linux"]
    (exe,) = made(linux, "EXE")
    assert exe.kwargs["name"] == "LayerForge" and exe.kwargs["console"] is True
    assert exe.kwargs["exclude_binaries"] is True  # one-folder, not one-file
    (collect,) = made(linux, "COLLECT")
    assert collect.kwargs["name"] == "LayerForge"
    assert not made(linux, "BUNDLE")

    _, windows = spec["win32"]
    exes = made(windows, "EXE")
    assert [(e.kwargs["name"], e.kwargs["console"]) for e in exes] == [
        ("LayerForge", False), ("layerforge-cli", True)]
    assert all(e.kwargs["icon"].endswith("layerforge.ico") for e in exes)

    _, mac = spec["darwin"]
    (bundle,) = made(mac, "BUNDLE")
    assert bundle.kwargs["name"] == "LayerForge.app"
    assert bundle.kwargs["icon"].endswith("layerforge.icns")
    plist = bundle.kwargs["info_plist"]
    assert "camera" in plist["NSCameraUsageDescription"]
    assert plist["CFBundleShortVersionString"] == tomllib.loads(
        (ROOT / "pyproject.toml").read_text())["project"]["version"]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_icons_exist_in_every_size():
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        assert png_size(resource_path("icons", f"layerforge-{size}.png").read_bytes()) == (
            size, size)
    ico = resource_path("icons", "layerforge.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind) == (0, 1) and count >= 5
    sizes = []
    for i in range(count):
        w, h, _, _, _, _, length, offset = struct.unpack("<BBBBHHII", ico[6 + 16 * i:22 + 16 * i])
        assert png_size(ico[offset:offset + length]) == (w or 256, h or 256)
        sizes.append(w or 256)
    assert {16, 32, 48, 256} <= set(sizes)
    icns = resource_path("icons", "layerforge.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)
    kinds, at = {}, 8
    while at < len(icns):
        kind, length = icns[at:at + 4].decode(), struct.unpack(">I", icns[at + 4:at + 8])[0]
        kinds[kind] = png_size(icns[at + 8:at + length])[0]
        at += length
    assert kinds["ic07"] == 128 and kinds["ic09"] == 512 and kinds["ic10"] == 1024


def test_desktop_entry_starts_the_bundle():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(INSTALLERS / "layerforge.desktop")
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application" and section["Name"] == "LayerForge"
    assert section["Exec"].split()[0].endswith("/LayerForge")
    assert section["Icon"] == "layerforge" and section["Terminal"] == "false"


def test_inno_setup_script_installs_the_bundle():
    iss = (INSTALLERS / "windows" / "layerforge.iss").read_text()
    for needle in ("[Setup]", "[Files]", "[Icons]", r"dist\LayerForge\*", "LayerForge.exe",
                   "layerforge.ico", "recursesubdirs"):
        assert needle in iss, needle


def test_resources_are_found_in_a_checkout_and_when_frozen(monkeypatch, tmp_path):
    from backend.data.timeseries import DEFAULT_CSV

    assert resources_dir() == ROOT / "resources"
    assert DEFAULT_CSV.is_file() and DEFAULT_CSV.is_relative_to(resources_dir())
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources_dir() == tmp_path / "resources"
    assert resource_path("icons", "x.png") == tmp_path / "resources" / "icons" / "x.png"


@pytest.mark.skipif(not (BUNDLE / "LayerForge").exists(),
                    reason="no bundle: installers/build_linux.sh builds installers/dist/"
                           "LayerForge (minutes), then this runs its smoke test")
def test_bundle_smoke_test():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    result = subprocess.run([str(INSTALLERS / "smoke_test.sh"), str(BUNDLE)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "painted=True" in result.stdout and "smoke test passed" in result.stdout

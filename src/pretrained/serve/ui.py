"""The browser UI: a Gradio app mounted in the same FastAPI app as the API.

Every tab calls the same task functions as the CLI and the API, on the models the server's pool
serves, and says which model answered. Tabs appear for the tasks the server serves. Each event
goes through the API's limits: the same admission slots, deadline, token limit and input checks.
"""

from __future__ import annotations

from typing import Any

from .ui_parts import Runner
from .ui_tabs import TABS, Context


def build(server) -> Any:
    """→ a gr.Blocks wired to `server` (an app.Server: its pool, admission, limits): one tab
    per served task (serve/ui_tabs.py)."""
    import gradio as gr

    pool = server.pool
    ctx = Context(server, pool, Runner(server), server.config.max_new_tokens)
    with gr.Blocks(title="pretrained") as demo:
        gr.Markdown(
            "## pretrained\nModels served here: "
            + ", ".join(f"**{m['id']}** ({', '.join(m['tasks'])})" for m in pool.models())
        )
        with gr.Tabs():
            for task, tab in TABS.items():
                if pool.has(task):
                    tab(ctx)
    return demo

"""The patches of Chainlit that are left (agent/chainlit_tuning.py) stand on what Chainlit 2.12 does:
these tests fail the day an upgrade changes it, so the patch is reviewed (or dropped) then.

What the patches do for a person (no stall, history in order, an over-long message answered with
the limit) is tested in tests/test_app.py and tests/test_bad_input.py.
"""

from __future__ import annotations

import ast
import importlib
import inspect

import chainlit.config
import chainlit.server

import app  # noqa: F401  (installs the tuning, as the server does)
from agent.chainlit_tuning import SESSION_FILES, strictly_increasing_utc_now
from agent.input_checks import SOCKET_MAX_CHARS
from settings import get_settings


def _uses_of(module_name: str, name: str) -> list[str]:
    """Each use of the module-level `name` in that Chainlit module: `time.sleep`, `utc_now()`…"""
    tree = ast.parse(inspect.getsource(importlib.import_module(module_name)))
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == name:
            uses.append(f"{name}.{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name:
            uses.append(f"{name}()")
    return uses


def test_chainlit_still_sleeps_in_step_and_message_constructors() -> None:
    """We swap `time` in these two modules (they use it for that sleep only) and their `utc_now`.
    When this fails, Chainlit changed how it stamps steps: drop or redo the swap."""
    for module_name in ("chainlit.step", "chainlit.message"):
        assert set(_uses_of(module_name, "time")) == {"time.sleep"}, module_name
        assert set(_uses_of(module_name, "utc_now")) == {"utc_now()"}, module_name
        module = importlib.import_module(module_name)
        assert module.utc_now is strictly_increasing_utc_now  # swapped in
    step_init = inspect.getsource(importlib.import_module("chainlit.step").Step.__init__)
    message_init = inspect.getsource(importlib.import_module("chainlit.message").Message.__init__)
    assert "time.sleep(0.001)" in step_init and "time.sleep(0.001)" in message_init


def test_the_socket_takes_a_message_up_to_our_limit() -> None:
    """Chainlit builds its socket.io server with engine.io's default frame cap (1 MB) and no setting."""
    assert chainlit.server.sio.eio.max_http_buffer_size == SOCKET_MAX_CHARS


def test_chainlit_still_reads_its_files_folder_from_these_two_globals() -> None:
    """We point `FILES_DIRECTORY` (in chainlit.config, and the copy chainlit.server imported) at this
    server's own folder. When this fails, Chainlit keeps session files elsewhere (or deletes them
    some other way): redo `use_own_files_folder`, or another server's stop may take our files again."""
    assert set(_uses_of("chainlit.server", "FILES_DIRECTORY")) == {"FILES_DIRECTORY.is_dir"}
    shutdown = inspect.getsource(importlib.import_module("chainlit.server"))
    assert "shutil.rmtree(FILES_DIRECTORY)" in shutdown
    files_dir = inspect.getsource(importlib.import_module("chainlit.session").BaseSession)
    assert "from chainlit.config import FILES_DIRECTORY" in files_dir
    assert "return FILES_DIRECTORY / self.id" in files_dir
    assert chainlit.server.FILES_DIRECTORY is chainlit.config.FILES_DIRECTORY  # swapped in, both
    assert chainlit.config.FILES_DIRECTORY.parent == get_settings().viraltracker_home / SESSION_FILES

"""What the server writes on someone's behalf is its owner's alone, whatever the umask."""

from __future__ import annotations

from pathlib import Path

import chainlit.config
import pytest

from agent.chat_storage import LocalChatStorage
from agent.history import make_data_layer
from tests.cli_helpers import run_cli
from tests.file_helpers import mode, open_umask


async def test_chat_element_files_are_owner_only(tmp_path: Path) -> None:
    root = tmp_path / "storage" / "chat"
    storage = LocalChatStorage(root)
    # A file an older version left readable to everyone is tightened when it is written again.
    (root / "thread-1").mkdir(parents=True, mode=0o755)
    (root / "thread-1" / "old.csv").write_text("x")
    (root / "thread-1" / "old.csv").chmod(0o644)
    with open_umask():
        await storage.upload_file("thread-1/table.csv", "brand,spend\nAcme Pets,10\n", mime="text/csv")
        await storage.upload_file("thread-1/old.csv", "brand\n", mime="text/csv")
        await storage.upload_file("thread-2/chart.json", b"{}", mime="application/json")
    for name in ("thread-1/table.csv", "thread-1/table.csv.mime", "thread-1/old.csv", "thread-2/chart.json"):
        assert mode(root / name) == 0o600, name
    for folder in (root, root / "thread-1", root / "thread-2"):
        assert mode(folder) == 0o700, folder
    assert (await storage.get_read_url("thread-1/table.csv")).startswith("data:text/csv;base64,")


async def test_chainlits_own_session_files_sit_in_an_owner_only_folder(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tmp_path / ".files"
    files.mkdir()
    files.chmod(0o755)  # as Chainlit makes it at import, under the usual umask
    monkeypatch.setattr(chainlit.config, "FILES_DIRECTORY", files)
    layer = make_data_layer(database_url)
    await layer.close()
    assert mode(files) == 0o700


def test_the_log_is_owner_only(database_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with open_umask():
        done = run_cli(database_url, home, "db", "up")
    assert done.returncode == 0, done.stderr
    assert (mode(home / "viraltracker.log"), mode(home)) == (0o600, 0o700)

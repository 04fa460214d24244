"""The API world built once into a template database file, and copied for each test.

Building the world takes a second; copying its SQLite file (and WAL files)
takes milliseconds, so each test gets its own world and may change anything.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from sendpool.config import Settings
from sendpool.runtime import Runtime
from tests.support.settings import make_settings
from tests.support.world import seed_world


@dataclass(frozen=True)
class Template:
    path: Path
    key: str
    ids: dict[str, str]
    tokens: dict[str, str]
    markers: dict[str, list[str]]


def build_world_template(folder: Path) -> Template:
    key = Fernet.generate_key().decode()
    rt = Runtime.open(make_settings(folder, secret_key=key))
    try:
        ids, tokens, markers = seed_world(rt)
    finally:
        rt.close()
    return Template(folder / "sendpool.db", key, ids, tokens, markers)


def copy_database(template_db: Path, key: str, tmp_path: Path) -> Settings:
    """Settings for a private copy of ``template_db`` in ``tmp_path``."""
    for suffix in ("", "-wal", "-shm"):
        source = template_db.with_name(template_db.name + suffix)
        if source.exists():
            shutil.copy(source, tmp_path / source.name)
    return make_settings(tmp_path, secret_key=key)

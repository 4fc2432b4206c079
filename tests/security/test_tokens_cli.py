"""`oneonone token …` and `oneonone people import` against a fresh migrated SQLite file."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path

import httpx
import pytest

from service.api.app import create_app
from service.cli import main
from service.db.engine import create_engine
from service.db.migrate import upgrade
from service.settings import Settings, get_settings

PEOPLE_CSV = """email,name,timezone,manager,role
maya@acme.test,Maya,Europe/Berlin,,admin
li@acme.test,Li,Asia/Singapore,MAYA@acme.test,
"""


class CliDb:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite+aiosqlite:///{path}"

    def rows(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.path) as conn:
            return conn.execute(sql).fetchall()

    def me(self, token: str) -> httpx.Response:
        """`GET /v1/me` with `token`, on an app serving this database."""

        async def run() -> httpx.Response:
            engine = create_engine(self.url)
            app = create_app(Settings(database_url=self.url, auth_cache_seconds=0, _env_file=None), engine=engine)
            try:
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                    return await c.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
            finally:
                await engine.dispose()

        return asyncio.run(run())


@pytest.fixture
def cli_db(tmp_path, monkeypatch) -> CliDb:
    db = CliDb(tmp_path / "cli.db")
    upgrade(db.url)
    monkeypatch.setenv("ONEONONE_DATABASE_URL", db.url)
    get_settings.cache_clear()
    yield db
    get_settings.cache_clear()


def _csv(tmp_path: Path, text: str, name: str = "people.csv", encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return str(path)


def test_token_create_list_revoke(cli_db, tmp_path, capsys):
    assert main(["people", "import", _csv(tmp_path, PEOPLE_CSV)]) == 0
    capsys.readouterr()

    assert main(["token", "create", "--email", "Maya@ACME.test", "--name", "laptop"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("oo_") and len(token) > 40

    r = cli_db.me(token)
    assert r.status_code == 200 and r.json()["email"] == "maya@acme.test"

    # Only the SHA-256 is stored: the token appears nowhere in the table.
    stored = cli_db.rows("SELECT * FROM api_tokens")
    assert len(stored) == 1 and all(token not in str(value) for value in stored[0])
    [(token_hash, prefix)] = cli_db.rows("SELECT token_hash, prefix FROM api_tokens")
    assert token_hash == hashlib.sha256(token.encode()).hexdigest() and token.startswith(prefix)

    assert main(["token", "list", "--email", "maya@acme.test"]) == 0
    listed = capsys.readouterr().out
    assert prefix in listed and "laptop" in listed and "active" in listed and token not in listed

    assert main(["token", "revoke", prefix]) == 0
    assert "revoked 1 token(s)" in capsys.readouterr().err
    r = cli_db.me(token)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert main(["token", "list", "--email", "maya@acme.test"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["token", "revoke", prefix]) == 1  # nothing (still active) to revoke


def test_token_commands_for_unknown_person_fail_cleanly(cli_db, capsys):
    assert main(["token", "create", "--email", "ghost@acme.test"]) == 1
    out = capsys.readouterr()
    assert out.out == "" and "no person with email 'ghost@acme.test'" in out.err
    assert main(["token", "list", "--email", "ghost@acme.test"]) == 1
    assert cli_db.rows("SELECT count(*) FROM api_tokens") == [(0,)]


def test_people_import_creates_people_and_pairs(cli_db, tmp_path, capsys):
    # A spreadsheet export: BOM, upper-case header, CRLF line ends.
    text = "\ufeff" + PEOPLE_CSV.replace("email,name", "Email,Name").replace("\n", "\r\n")
    assert main(["people", "import", _csv(tmp_path, text)]) == 0
    assert "2 created, 0 updated" in capsys.readouterr().err
    people = {
        email: (pid, manager_id, role)
        for pid, email, manager_id, role in cli_db.rows("SELECT id, email, manager_id, role FROM people")
    }
    maya, li = people["maya@acme.test"], people["li@acme.test"]
    assert maya[2] == "admin" and li[1] == maya[0] and li[2] == "member"
    assert cli_db.rows("SELECT manager_id, report_id, active FROM pairs") == [(maya[0], li[0], 1)]

    renamed = PEOPLE_CSV.replace("Li,", "Li Wei,")
    assert main(["people", "import", _csv(tmp_path, renamed, "again.csv")]) == 0
    assert "0 created, 1 updated" in capsys.readouterr().err


def test_people_import_bad_csv_prints_offending_lines_and_stores_nothing(cli_db, tmp_path, capsys):
    text = (
        "email,name,timezone,manager,role\n"
        "ok@acme.test,Ok,UTC,,\n"  # line 2: fine
        "a@acme.test,A,UTC,b@acme.test,\n"  # line 3: cycle a -> b -> a
        "b@acme.test,B,UTC,a@acme.test,\n"  # line 4: cycle
        "\n"  # blank line: skipped, still counted
        "c@acme.test,C,UTC,ghost@acme.test,\n"  # line 6: unknown manager
    )
    assert main(["people", "import", _csv(tmp_path, text)]) == 2
    err = capsys.readouterr().err
    assert "nothing was imported" in err
    assert "line 3: manager: reporting line forms a cycle" in err
    assert "line 4: manager: reporting line forms a cycle" in err
    assert "line 6: manager: unknown manager 'ghost@acme.test'" in err
    assert "line 2:" not in err and "line 5:" not in err
    assert cli_db.rows("SELECT count(*) FROM people") == [(0,)]
    assert cli_db.rows("SELECT count(*) FROM pairs") == [(0,)]


def test_people_import_rejects_malformed_rows_before_touching_the_database(cli_db, tmp_path, capsys):
    text = (
        "email,name,timezone,manager,role\n"
        "not-an-email,X,UTC,,\n"
        "e@acme.test,E,UTC,,overlord\n"
        "f@acme.test,F,UTC,,\n"
        "g@acme.test,G,America,,\n"  # a folder of the zone database, not a zone (was a crash)
        "h@acme.test,H,Mars/Olympus,,\n"
        "i@acme.test,I,../etc/passwd,,\n"
    )
    assert main(["people", "import", _csv(tmp_path, text)]) == 2
    err = capsys.readouterr().err
    assert "line 2: email:" in err and "line 3: role:" in err and "line 4" not in err
    assert "line 5: timezone: Value error, unknown IANA time zone 'America'" in err
    assert "line 6: timezone:" in err and "line 7: timezone:" in err
    assert cli_db.rows("SELECT count(*) FROM people") == [(0,)]


@pytest.mark.parametrize(
    "text, message",
    [
        ("name,timezone\nMaya,UTC\n", "no 'email' column"),
        ("email,name\n", "no people to import"),
    ],
)
def test_people_import_rejects_unusable_files(cli_db, tmp_path, capsys, text, message):
    assert main(["people", "import", _csv(tmp_path, text)]) == 2
    assert message in capsys.readouterr().err
    assert main(["people", "import", str(tmp_path / "missing.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err

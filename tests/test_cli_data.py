"""The data-source commands: ``sources register|enable|disable|list``, ``fetch`` and
``macro-data fetch`` (FRED replayed from a local HTTP server through fredapi)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from psycopg.types.json import Jsonb

from macroquant.cli import main
from macroquant.db.bulk import read_frame
from macroquant.db.connection import connect, transaction
from tests.local_http import LocalHttpServer

FRED_PAYLOAD = Path(__file__).parent / "sources" / "payloads" / "fred" / "gdp_all_releases.xml"
VENDOR_ROWS = ["alpha_vantage", "alpha_vantage_economic", "coinbase", "yahoo"]


@pytest.fixture(autouse=True)
def _database(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", db_url)
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps tables to the terminal's width
    for name in ("ALPHAVANTAGE_API_KEY", "FRED_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return db_url


def _sources(url: str) -> dict[str, dict]:
    with connect(url) as conn:
        frame = read_frame(conn, "SELECT source_id, enabled, rate_limit_per_minute, "
                                 "credentials_ref FROM data_sources")
    return frame.set_index("source_id").to_dict("index")


def test_register_enable_and_list(db_url, capsys):
    assert main(["sources", "register"]) == 0
    assert capsys.readouterr().out.strip() == (
        "registered (disabled until enabled): " + ", ".join(VENDOR_ROWS))
    rows = _sources(db_url)
    assert not any(rows[s]["enabled"] for s in VENDOR_ROWS)
    assert (rows["alpha_vantage"]["rate_limit_per_minute"],
            rows["alpha_vantage"]["credentials_ref"]) == (5, "ALPHAVANTAGE_API_KEY")

    assert main(["sources", "enable", "alpha_vantage"]) == 0
    assert capsys.readouterr().out.strip() == "alpha_vantage: enabled"
    with transaction(db_url) as conn:  # a user's own limit
        conn.execute("UPDATE data_sources SET rate_limit_per_minute = 3 "
                     "WHERE source_id = 'alpha_vantage'")
    assert main(["sources", "register"]) == 0  # registering again keeps both
    capsys.readouterr()
    rows = _sources(db_url)
    assert rows["alpha_vantage"]["enabled"] is True
    assert rows["alpha_vantage"]["rate_limit_per_minute"] == 3
    assert rows["yahoo"]["enabled"] is False

    assert main(["sources", "list"]) == 0
    out = capsys.readouterr().out
    assert "Source health" in out
    cells = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[1:-1]]
             for line in out.splitlines() if line.count("│") > 3}
    # columns: source_id, enabled, priority, rate limit, fallback, last delivered, failure...
    assert cells["alpha_vantage"][1:4] == ["True", "40", "3"]
    assert cells["yahoo"][1] == "False" and cells["yahoo"][3] == "60"
    assert cells["coinbase"][3] == "600"

    assert main(["sources", "disable", "alpha_vantage"]) == 0
    assert _sources(db_url)["alpha_vantage"]["enabled"] is False
    capsys.readouterr()
    assert main(["sources", "enable", "no_such_source"]) == 1
    assert "no data source 'no_such_source'" in capsys.readouterr().err


def test_fetch_without_key_names_the_secret_and_the_variable(capsys):
    code = main(["fetch", "alpha_vantage", "--symbols", "IBM", "--start", "2024-01-02",
                 "--end", "2024-01-31"])
    assert code == 1
    err = capsys.readouterr().err
    assert ("source 'alpha_vantage' needs the API key named ALPHAVANTAGE_API_KEY: store it "
            "with 'macroquant secrets set ALPHAVANTAGE_API_KEY' or set the environment "
            "variable ALPHAVANTAGE_API_KEY") in err


def test_fetch_unknown_source_and_reversed_window(capsys):
    assert main(["fetch", "nowhere", "--start", "2024-01-02", "--end", "2024-01-03"]) == 1
    assert "no data source 'nowhere'" in capsys.readouterr().err
    assert main(["fetch", "yahoo", "--start", "2024-01-03", "--end", "2024-01-02"]) == 2
    assert "--end is before --start" in capsys.readouterr().err


class _LocalFred(LocalHttpServer):
    """FRED on 127.0.0.1: ``/fred/series/observations`` answers ``status`` with ``body``."""

    def __init__(self, status: int, body: bytes) -> None:
        self.api_keys: list[str] = []
        fred = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if "api_key=" in self.path:
                    fred.api_keys.append(self.path.split("api_key=")[1].split("&")[0])
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(Handler)
        self.root = f"{self.url}/fred"


@pytest.fixture
def local_fred() -> Iterator[_LocalFred]:
    fred = _LocalFred(200, FRED_PAYLOAD.read_bytes()).start()
    yield fred
    fred.stop()


def _point_fred_at(url: str, root: str) -> None:
    from macroquant.sources import fred

    with transaction(url) as conn:
        fred.register(conn)
        conn.execute("UPDATE data_sources SET config = %s WHERE source_id = 'fred'", (Jsonb({
            "root_url": root, "timeout_seconds": 5,
            "series": [{"series_id": "GDP", "vendor_id": "GDP", "name": "US nominal GDP",
                        "frequency": "quarterly", "units": "billions of dollars"}]}),))


def test_macro_data_fetch_fred_from_a_local_server(db_url, local_fred, monkeypatch, capsys):
    _point_fred_at(db_url, local_fred.root)
    assert main(["macro-data", "fetch", "fred", "--end", "2014-02-28"]) == 1
    err = capsys.readouterr().err  # no key yet: refused, naming the secret and the variable
    assert ("error: source 'fred' needs the API key named FRED_API_KEY: store it with "
            "'macroquant secrets set FRED_API_KEY' or set the environment variable "
            "FRED_API_KEY") in err
    assert local_fred.api_keys == []  # nothing was sent without a key

    monkeypatch.setenv("FRED_API_KEY", "k-cli")
    assert main(["macro-data", "fetch", "fred", "--end", "2014-02-28"]) == 0
    # vintages public by 2014-02-28: Q3 three, Q4 two (the 2014-03-27 one comes later)
    assert json.loads(capsys.readouterr().out) == {
        "vendor": "fred", "rows_fetched": 5, "economic_indicators": 5}
    assert local_fred.api_keys == ["k-cli"]
    with connect(db_url) as conn:
        values = [r[0] for r in conn.execute(
            "SELECT value FROM economic_indicators WHERE series_id = 'GDP' "
            "ORDER BY observation_date, realtime_start").fetchall()]
    assert values == [16912.9, 16857.6, 16872.3, 17102.5, 17080.7]
    assert main(["macro-data", "fetch", "fred"]) == 0  # the rest: only the new vintage
    assert json.loads(capsys.readouterr().out)["economic_indicators"] == 1

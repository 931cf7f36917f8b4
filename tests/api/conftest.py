"""An API app on a fresh test database with three users and hand-made result rows."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from macroquant.api.app import create_app
from macroquant.auth.login import LoginLimits
from macroquant.auth.sessions import issue_session
from macroquant.auth.users import get_user
from macroquant.config.settings import Settings
from macroquant.db.connection import transaction
from macroquant.security.secrets import KEY_ENV
from tests.auth.helpers import FakeClock, add_role_users, seed_results

USERNAMES = {"viewer": "vera", "trader": "tom", "admin": "ada"}


@dataclass
class Api:
    """The client, its clock, the settings and what the run executor was asked to run."""

    client: TestClient
    clock: FakeClock
    settings: Settings
    executed: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.settings.database_url is not None
        return self.settings.database_url

    def token(self, role: str) -> str:
        """A fresh session token for the user of ``role`` (no password hashing)."""
        with transaction(self.url) as conn:
            user = get_user(conn, USERNAMES[role])
            assert user is not None
            return issue_session(conn, user, at=self.clock())[0]

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}


@pytest.fixture
def api(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Api:
    monkeypatch.delenv(KEY_ENV, raising=False)
    clock = FakeClock()
    with transaction(settings.database_url) as conn:
        add_role_users(conn)
        seed_results(conn)
    holder = Api(client=None, clock=clock, settings=settings)  # type: ignore[arg-type]

    def executor(request_id: int) -> None:
        """Records the request and marks it done, as a run that succeeded at once."""
        holder.executed.append(request_id)
        with transaction(settings.database_url) as conn:
            conn.execute("UPDATE run_requests SET status = 'success', finished_at = %s "
                         "WHERE request_id = %s", (clock(), request_id))

    app = create_app(settings, clock=clock, run_executor=executor,
                     login_limits=LoginLimits(max_failures_per_user=3,
                                              max_failures_per_client=6))
    holder.client = TestClient(app)
    return holder

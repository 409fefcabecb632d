"""XUI One adapter against recorded panel answers (reference §1) through httpx.MockTransport."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import httpx
import pytest

from boxoffice.panels.adapters.base import (
    LineNotFound,
    LineSpec,
    PermanentPanelError,
    TransientPanelError,
    UsernameTaken,
)
from boxoffice.panels.adapters.xui_one.adapter import XuiOneAdapter

API_KEY = "k3yS3cr3tAbc"
EXPIRES = datetime(2026, 1, 1, tzinfo=UTC)  # 1767225600

# A `lines` row as get_line / create_line / edit_line return it: DB values as strings.
STORED_ROW = {
    "id": "1234",
    "member_id": "7",
    "username": "alice2024",
    "password": "s3cretPw9",
    "last_ip": None,
    "exp_date": "1767225600",
    "admin_enabled": "1",
    "enabled": "1",
    "admin_notes": "order BX-1001",
    "reseller_notes": "vip customer",
    "bouquet": "[1,2]",
    "allowed_outputs": "[1,2]",
    "max_connections": "2",
    "is_restreamer": "1",
    "is_trial": "0",
    "is_mag": "0",
    "is_e2": "0",
    "is_stalker": "0",
    "is_isplock": "0",
    "allowed_ips": '["10.0.0.1","10.0.0.2"]',
    "allowed_ua": '["VLC/3.0"]',
    "created_at": "1735689600",
    "pair_id": None,
    "force_server_id": "0",
    "as_number": None,
    "isp_desc": "",
    "forced_country": "DE",
    "bypass_ua": "0",
    "play_token": "",
    "package_id": None,
    "access_token": None,
    "contact": "alice@example.com",
    "last_activity": None,
    "last_activity_array": None,
}

NGINX_503 = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>"
    "\r\n</body>\r\n</html>\r\n"
)
NGINX_403 = (
    "<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n"
    "<center><h1>403 Forbidden</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def success(data: object = None, **extra: object) -> dict:
    body: dict = {"status": "STATUS_SUCCESS"}
    if data is not None:
        body["data"] = data
    body.update(extra)
    return body


def row(**changes: object) -> dict:
    return {**STORED_ROW, **changes}


class FakePanel:
    """Answers per action, in order; records every request."""

    def __init__(self) -> None:
        self.answers: dict[str, list[object]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, action: str, *answers: object) -> FakePanel:
        self.answers.setdefault(action, []).extend(answers)
        return self

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        action = request.url.params.get("action", "")
        queue = self.answers.get(action)
        assert queue, f"unexpected action {action}"
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if callable(answer):
            answer = answer(request)
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    def actions(self) -> list[str]:
        return [r.url.params["action"] for r in self.requests]

    def form(self, action: str, nth: int = 0) -> list[tuple[str, str]]:
        matching = [r for r in self.requests if r.url.params["action"] == action]
        return parse_qsl(matching[nth].content.decode(), keep_blank_values=True)


@pytest.fixture
def panel() -> FakePanel:
    return FakePanel()


@pytest.fixture
def adapter(panel: FakePanel) -> XuiOneAdapter:
    config = XuiOneAdapter.config_for(
        api_url="http://panel.example:25500/",
        timeout=2,
        settings={"api_key": API_KEY, "access_code": "adminapi1"},
    )
    return XuiOneAdapter(config, transport=httpx.MockTransport(panel.handler))


def spec(**changes: object) -> LineSpec:
    values: dict = {
        "username": "alice2024",
        "password": "s3cretPw9",
        "max_connections": 2,
        "expires_at": EXPIRES,
        "bouquets": (1, 2),
        "outputs": ("m3u8", "ts"),
        "notes": "order BX-1001",
    }
    values.update(changes)
    return LineSpec(**values)


def keys(form: list[tuple[str, str]]) -> list[str]:
    return [name for name, _ in form]


def values(form: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in form if key == name]


# Creating -------------------------------------------------------------------------------------


def test_it_posts_the_create_form_encoded_to_the_access_code_path(adapter, panel):
    panel.on("create_line", success(row()))
    adapter.create_line(spec())

    request = panel.requests[0]
    assert request.method == "POST"
    assert request.url.path == "/adminapi1/"
    assert request.url.params["api_key"] == API_KEY
    assert request.url.params["action"] == "create_line"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert panel.form("create_line") == [
        ("username", "alice2024"),
        ("password", "s3cretPw9"),
        ("max_connections", "2"),
        ("enabled", "1"),
        ("admin_enabled", "1"),
        ("exp_date", "@1767225600"),
        ("bouquets_selected", "[1,2]"),
        ("access_output[]", "1"),
        ("access_output[]", "2"),
        ("admin_notes", "order BX-1001"),
    ]


def test_it_sends_bouquets_as_one_json_string(adapter, panel):
    panel.on("create_line", success(row(bouquet="[5,3,9]")))
    adapter.create_line(spec(bouquets=(5, 3, 9)))

    form = panel.form("create_line")
    assert values(form, "bouquets_selected") == ["[5,3,9]"]
    assert "bouquets_selected[]" not in keys(form)


def test_it_sends_an_empty_bouquet_list_as_json(adapter, panel):
    panel.on("create_line", success(row(bouquet="[]")))
    adapter.create_line(spec(bouquets=()))

    assert values(panel.form("create_line"), "bouquets_selected") == ["[]"]


def test_it_repeats_access_output_for_every_output(adapter, panel):
    panel.on("create_line", success(row(allowed_outputs="[1,2,3]")))
    adapter.create_line(spec(outputs=("rtmp", "ts", "m3u8")))

    assert values(panel.form("create_line"), "access_output[]") == ["1", "2", "3"]


def test_it_refuses_a_line_without_outputs(adapter, panel):
    with pytest.raises(ValueError, match="at least one output"):
        adapter.create_line(spec(outputs=()))
    assert panel.requests == []


def test_it_sends_no_expire_instead_of_a_date_for_a_line_that_never_expires(adapter, panel):
    panel.on("create_line", success(row(exp_date=None)))
    line = adapter.create_line(spec(expires_at=None))

    form = panel.form("create_line")
    assert values(form, "no_expire") == ["1"]
    assert "exp_date" not in keys(form)
    assert line.expires_at is None


def test_it_sends_exp_date_as_absolute_utc_seconds_with_an_at_sign(adapter, panel):
    panel.on("create_line", success(row(exp_date="1767225600")))
    adapter.create_line(spec(expires_at=datetime(2026, 1, 1, 0, 0, 0, 999_000, tzinfo=UTC)))

    assert values(panel.form("create_line"), "exp_date") == ["@1767225600"]


def test_it_refuses_a_naive_expiry(adapter, panel):
    with pytest.raises(ValueError, match="timezone-aware"):
        adapter.create_line(spec(expires_at=datetime(2026, 1, 1)))


def test_it_never_sends_is_trial_for_a_paid_line(adapter, panel):
    panel.on("create_line", success(row()))
    adapter.create_line(spec(is_trial=False))

    assert "is_trial" not in keys(panel.form("create_line"))


def test_it_sends_is_trial_1_for_a_trial(adapter, panel):
    panel.on("create_line", success(row(is_trial="1")))
    line = adapter.create_line(spec(is_trial=True))

    assert values(panel.form("create_line"), "is_trial") == ["1"]
    assert line.is_trial is True


def test_it_puts_our_notes_into_admin_notes(adapter, panel):
    panel.on("create_line", success(row()))
    adapter.create_line(spec(notes="order BX-1001"))

    form = panel.form("create_line")
    assert values(form, "admin_notes") == ["order BX-1001"]
    assert "notes" not in keys(form)


def test_it_parses_the_success_row_with_string_values(adapter, panel):
    panel.on("create_line", success(row()))
    line = adapter.create_line(spec())

    assert line.panel_line_id == "1234"
    assert line.username == "alice2024"
    assert line.password == "s3cretPw9"
    assert line.max_connections == 2
    assert line.expires_at == EXPIRES
    assert line.expires_at.tzinfo is not None
    assert line.bouquets == (1, 2)
    assert line.outputs == ("m3u8", "ts")
    assert line.enabled is True
    assert line.notes == "order BX-1001"
    assert line.is_trial is False


@pytest.mark.parametrize("stored", [None, "", "0", 0])
def test_it_reads_a_missing_exp_date_as_never_expires(adapter, panel, stored):
    panel.on("get_line", success(row(exp_date=stored)))
    assert adapter.get_line("1234").expires_at is None


@pytest.mark.parametrize("stored", ["", "not json", "{}", None, '[1,"x",3]'])
def test_it_reads_broken_bouquet_and_output_strings_defensively(adapter, panel, stored):
    panel.on("get_line", success(row(bouquet=stored, allowed_outputs=stored)))
    line = adapter.get_line("1234")
    assert set(line.bouquets) <= {1, 3}
    assert set(line.outputs) <= {"m3u8", "rtmp"}


def test_it_reads_a_banned_line_as_not_enabled(adapter, panel):
    panel.on("get_line", success(row(admin_enabled="0")))
    assert adapter.get_line("1234").enabled is False


def test_it_raises_username_taken_without_echoing_the_password(adapter, panel):
    echo = {"username": "alice2024", "password": "s3cretPw9", "bouquets_selected": "[1,2]"}
    panel.on("create_line", {"status": "STATUS_EXISTS_USERNAME", "data": echo})

    with pytest.raises(UsernameTaken) as caught:
        adapter.create_line(spec())
    assert caught.value.transient is False
    assert caught.value.code == "STATUS_EXISTS_USERNAME"
    assert "s3cretPw9" not in str(caught.value) + caught.value.raw


def test_it_raises_a_permanent_error_named_after_other_status_failures(adapter, panel):
    panel.on("create_line", {"status": "STATUS_INVALID_DATE", "data": {"exp_date": "@x"}})

    with pytest.raises(PermanentPanelError) as caught:
        adapter.create_line(spec())
    assert caught.value.code == "STATUS_INVALID_DATE"


def test_it_raises_a_permanent_error_for_an_invalid_api_key(adapter, panel):
    panel.on("create_line", {"status": "STATUS_FAILURE", "error": "Invalid API key."})

    with pytest.raises(PermanentPanelError) as caught:
        adapter.create_line(spec())
    assert caught.value.code == "invalid_api_key"
    assert API_KEY not in str(caught.value)


def test_it_refuses_credentials_the_panel_would_alter(adapter, panel):
    for password in (" padded ", "back\\slash", "with/slash", ""):
        with pytest.raises(PermanentPanelError) as caught:
            adapter.create_line(spec(password=password))
        assert caught.value.code == "invalid_password"
    assert panel.requests == []


def test_it_looks_the_line_up_when_create_returns_no_row(adapter, panel):
    panel.on("create_line", {"status": "STATUS_SUCCESS", "data": None})
    panel.on("get_lines", success([row()], recordsTotal="1", recordsFiltered="1"))
    panel.on("get_line", success(row()))

    assert adapter.create_line(spec()).panel_line_id == "1234"


# Transport trouble ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "code", "kept"),
    [
        (httpx.Response(503, text=NGINX_503), "http_503", "503 Service Temporarily Unavailable"),
        (httpx.Response(403, text=NGINX_403), "http_403", "403 Forbidden"),
        (httpx.Response(502, text="Bad Gateway"), "http_502", "Bad Gateway"),
        (httpx.Response(200, text=""), "empty_response", ""),
        (httpx.Response(200, text="  \n"), "empty_response", ""),
        (httpx.Response(200, text='{"status":"STATUS_SUCC'), "bad_response", "STATUS_SUCC"),
        (httpx.Response(200, text="<html><title>Login</title>"), "bad_response", "Login"),
        (httpx.Response(200, text="null"), "bad_response", "null"),
        (httpx.Response(200, text='"just a string"'), "bad_response", "just a string"),
    ],
)
def test_it_raises_transient_errors_for_answers_that_are_not_the_api(
    adapter, panel, response, code, kept
):
    panel.on("get_line", response)

    with pytest.raises(TransientPanelError) as caught:
        adapter.get_line("1234")
    assert caught.value.transient is True
    assert caught.value.code == code
    assert kept in caught.value.raw


def test_it_keeps_only_a_prefix_of_a_huge_garbage_body(adapter, panel):
    panel.on("get_line", httpx.Response(200, text="x" * 100_000))

    with pytest.raises(TransientPanelError) as caught:
        adapter.get_line("1234")
    assert 0 < len(caught.value.raw) <= 500


def test_it_raises_a_transient_timeout(adapter, panel):
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    panel.on("create_line", slow)
    with pytest.raises(TransientPanelError) as caught:
        adapter.create_line(spec())
    assert caught.value.code == "timeout"
    assert caught.value.__cause__ is None


def test_it_raises_a_transient_connect_error_when_refused_or_reset(adapter, panel):
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)

    for failure in (refused, reset):
        panel.answers.clear()
        panel.on("get_line", failure)
        with pytest.raises(TransientPanelError) as caught:
            adapter.get_line("1234")
        assert caught.value.code == "connect"


def test_it_keeps_the_api_key_out_of_wrapped_httpx_errors(adapter, panel):
    def leaky(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"failed for {request.url}", request=request)

    panel.on("get_line", leaky)
    with pytest.raises(TransientPanelError) as caught:
        adapter.get_line("1234")
    assert API_KEY not in str(caught.value) + repr(caught.value) + caught.value.raw
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True


def test_it_keeps_the_api_key_out_of_httpx_request_logs(adapter, panel, caplog):
    # Settings keep httpx at WARNING; someone debugging may not.
    caplog.set_level(logging.DEBUG, logger="httpx")
    panel.on("get_line", success(row()))
    adapter.get_line("1234")

    assert "api_key=***&action=get_line" in caplog.text
    assert API_KEY not in caplog.text


def test_it_keeps_the_api_key_and_passwords_out_of_garbage_echoes(adapter, panel):
    panel.on("get_line", success(row()))
    panel.on(
        "edit_line",
        httpx.Response(200, text=f"Warning: api_key={API_KEY} password=n3wPassw0rd s3cretPw9"),
    )

    with pytest.raises(TransientPanelError) as caught:
        adapter.change_password("1234", "n3wPassw0rd")
    everything = str(caught.value) + caught.value.raw
    assert API_KEY not in everything
    assert "n3wPassw0rd" not in everything
    assert "s3cretPw9" not in everything


# Reading --------------------------------------------------------------------------------------


def test_it_raises_line_not_found_for_an_unknown_id(adapter, panel):
    panel.on("get_line", {"status": "STATUS_FAILURE"})

    with pytest.raises(LineNotFound):
        adapter.get_line("999999")
    assert values(panel.form("get_line"), "id") == ["999999"]


def test_it_raises_line_not_found_for_an_id_that_is_not_a_number(adapter, panel):
    with pytest.raises(LineNotFound):
        adapter.get_line("12; DROP")
    assert panel.requests == []


def test_it_lists_bouquets_from_the_bare_json_array(adapter, panel):
    panel.on(
        "get_bouquets",
        [
            {
                "id": "1",
                "bouquet_name": "Sports",
                "bouquet_channels": "[1,2]",
                "bouquet_order": "1",
            },
            {"id": "4", "bouquet_name": "Movies", "bouquet_channels": "[]", "bouquet_order": "2"},
            {"bouquet_name": "no id"},
        ],
    )
    bouquets = adapter.list_bouquets()

    assert [(b.id, b.name) for b in bouquets] == [(1, "Sports"), (4, "Movies")]


def test_it_finds_a_line_by_exact_case_sensitive_username(adapter, panel):
    listed = [
        {"id": "11", "username": "Alice2024", "active_connections": "0"},
        {"id": "12", "username": "alice2024x", "active_connections": "0"},
        {
            "id": "1234",
            "username": "alice2024",
            "active_connections": "1",
            "last_active": "1700000000",
        },
    ]
    panel.on("get_lines", success(listed, recordsTotal="3", recordsFiltered="3"))
    panel.on("get_line", success(row()))

    line = adapter.find_line("alice2024")

    assert line is not None
    assert line.panel_line_id == "1234"
    assert line.bouquets == (1, 2)  # from get_line: get_lines rows have no bouquet column
    assert line.active_connections == 1
    assert line.last_active_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    form = panel.form("get_lines")
    assert values(form, "search[value]") == ["alice2024"]
    assert values(form, "start") == ["0"]
    assert values(form, "limit") == ["50"]
    assert values(panel.form("get_line"), "id") == ["1234"]


def test_it_pages_through_get_lines_until_records_total(adapter, panel):
    def page(start: int, count: int) -> dict:
        rows = [{"id": str(start + i), "username": f"alice2024{start + i}"} for i in range(count)]
        return success(rows, recordsTotal="120", recordsFiltered=str(min(count, 50)))

    panel.on("get_lines", page(0, 50), page(50, 50), page(100, 20))

    assert adapter.find_line("alice2024") is None
    assert [values(panel.form("get_lines", n), "start") for n in range(3)] == [
        ["0"],
        ["50"],
        ["100"],
    ]


def test_it_stops_paging_when_it_has_seen_records_total(adapter, panel):
    rows = [{"id": str(i), "username": f"bob{i}"} for i in range(50)]
    panel.on("get_lines", success(rows, recordsTotal="50", recordsFiltered="50"))

    assert adapter.find_line("bob") is None
    assert panel.actions() == ["get_lines"]


def test_it_stops_paging_when_the_panel_ignores_start(adapter, panel):
    rows = [{"id": str(i), "username": f"bob{i}"} for i in range(50)]
    panel.on("get_lines", success(rows, recordsTotal="500", recordsFiltered="50"))

    assert adapter.find_line("bob") is None
    assert panel.actions() == ["get_lines", "get_lines"]


def test_it_finds_nothing_in_an_empty_result(adapter, panel):
    panel.on("get_lines", success([], recordsTotal=0, recordsFiltered=0))
    assert adapter.find_line("nobody") is None


def test_it_reads_line_activity_from_the_list_row(adapter, panel):
    panel.on("get_line", success(row()))
    panel.on(
        "get_lines",
        success(
            [{"id": "1234", "username": "alice2024", "active_connections": "2"}], recordsTotal="1"
        ),
    )
    assert adapter.line_activity("1234").active_connections == 2


# Editing --------------------------------------------------------------------------------------

PRESERVED = [
    ("username", "alice2024"),
    ("max_connections", "2"),
    ("enabled", "1"),
    ("admin_enabled", "1"),
    ("bouquets_selected", "[1,2]"),
    ("member_id", "7"),
    ("admin_notes", "order BX-1001"),
    ("reseller_notes", "vip customer"),
    ("contact", "alice@example.com"),
    ("forced_country", "DE"),
    ("force_server_id", "0"),
    ("is_restreamer", "1"),
    ("access_output[]", "1"),
    ("access_output[]", "2"),
    ("allowed_ips[]", "10.0.0.1"),
    ("allowed_ips[]", "10.0.0.2"),
    ("allowed_ua[]", "VLC/3.0"),
]


def assert_resends_everything(form: list[tuple[str, str]], *, except_: set[str]) -> None:
    for pair in PRESERVED:
        if pair[0] not in except_:
            assert pair in form, f"{pair} missing from the edit"
    assert values(form, "id") == ["1234"]
    # Flags that are 0 on the line must be absent: presence alone sets them.
    for flag in ("is_trial", "is_stalker", "is_isplock", "bypass_ua"):
        assert flag not in keys(form)


def test_it_extends_by_resending_every_stored_field(adapter, panel):
    later = datetime(2026, 7, 1, tzinfo=UTC)
    panel.on("get_line", success(row()))
    panel.on("edit_line", success(row(exp_date=str(int(later.timestamp())))))

    line = adapter.extend("1234", later)

    form = panel.form("edit_line")
    assert values(form, "exp_date") == [f"@{int(later.timestamp())}"]
    assert values(form, "password") == ["s3cretPw9"]
    assert "no_expire" not in keys(form)
    assert_resends_everything(form, except_={"exp_date"})
    assert line.expires_at == later
    assert panel.actions() == ["get_line", "edit_line"]


def test_it_extends_to_never_with_no_expire(adapter, panel):
    panel.on("get_line", success(row()))
    panel.on("edit_line", success(row(exp_date=None)))

    assert adapter.extend("1234", None).expires_at is None
    form = panel.form("edit_line")
    assert values(form, "no_expire") == ["1"]
    assert "exp_date" not in keys(form)


def test_it_keeps_a_never_expiring_line_unlimited_on_other_edits(adapter, panel):
    panel.on("get_line", success(row(exp_date=None)))
    panel.on("edit_line", success(row(exp_date=None, max_connections="3")))

    adapter.set_connections("1234", 3)
    assert values(panel.form("edit_line"), "no_expire") == ["1"]


def test_it_resends_the_trial_flag_of_a_trial_line(adapter, panel):
    panel.on("get_line", success(row(is_trial="1")))
    panel.on("edit_line", success(row(is_trial="1", max_connections="1")))

    adapter.set_connections("1234", 1)
    assert values(panel.form("edit_line"), "is_trial") == ["1"]


def test_it_changes_the_password_and_keeps_everything_else(adapter, panel):
    panel.on("get_line", success(row()))
    panel.on("edit_line", success(row(password="n3wPassw0rd")))

    line = adapter.change_password("1234", "n3wPassw0rd")

    form = panel.form("edit_line")
    assert values(form, "password") == ["n3wPassw0rd"]
    assert values(form, "exp_date") == ["@1767225600"]
    assert_resends_everything(form, except_={"password"})
    assert line.password == "n3wPassw0rd"


def test_it_sets_connections_and_keeps_everything_else(adapter, panel):
    panel.on("get_line", success(row()))
    panel.on("edit_line", success(row(max_connections="5")))

    assert adapter.set_connections("1234", 5).max_connections == 5
    form = panel.form("edit_line")
    assert values(form, "max_connections") == ["5"]
    assert_resends_everything(form, except_={"max_connections"})


def test_it_raises_edit_not_applied_when_the_password_did_not_stick(adapter, panel):
    panel.on("get_line", success(row()))
    panel.on("edit_line", success(row()))  # accepted, but the row still has the old password

    with pytest.raises(PermanentPanelError) as caught:
        adapter.change_password("1234", "n3wPassw0rd")
    assert caught.value.code == "edit_not_applied"
    assert "n3wPassw0rd" not in str(caught.value)


def test_it_raises_edit_not_applied_when_the_panel_regenerated_credentials(adapter, panel):
    panel.on("get_line", success(row()))
    panel.on("edit_line", success(row(max_connections="3", username="x8Yk2LmQ0a")))

    with pytest.raises(PermanentPanelError) as caught:
        adapter.set_connections("1234", 3)
    assert caught.value.code == "edit_not_applied"


def test_it_reads_the_line_back_when_the_edit_returns_no_row(adapter, panel):
    panel.on("get_line", success(row()), success(row(max_connections="4")))
    panel.on("edit_line", {"status": "STATUS_SUCCESS", "data": None})

    assert adapter.set_connections("1234", 4).max_connections == 4
    assert panel.actions() == ["get_line", "edit_line", "get_line"]


def test_it_refuses_to_edit_a_line_whose_stored_password_the_panel_would_alter(adapter, panel):
    panel.on("get_line", success(row(password="has\\backslash")))

    with pytest.raises(PermanentPanelError) as caught:
        adapter.set_connections("1234", 3)
    assert caught.value.code == "unsafe_stored_credentials"
    assert panel.actions() == ["get_line"]


def test_it_raises_line_not_found_when_editing_an_unknown_line(adapter, panel):
    panel.on("get_line", {"status": "STATUS_FAILURE"})

    with pytest.raises(LineNotFound):
        adapter.extend("999999", EXPIRES)


def test_it_suspends_with_disable_line_and_reads_the_line_back(adapter, panel):
    panel.on("disable_line", success())
    panel.on("get_line", success(row(enabled="0")))

    line = adapter.suspend("1234")

    assert line.enabled is False
    assert panel.actions() == ["disable_line", "get_line"]
    assert panel.form("disable_line") == [("id", "1234")]


def test_it_resumes_with_enable_line(adapter, panel):
    panel.on("enable_line", success())
    panel.on("get_line", success(row(enabled="1")))

    assert adapter.resume("1234").enabled is True
    assert panel.form("enable_line") == [("id", "1234")]


def test_it_raises_edit_not_applied_when_a_suspend_did_not_stick(adapter, panel):
    panel.on("disable_line", success())
    panel.on("get_line", success(row(enabled="1")))

    with pytest.raises(PermanentPanelError) as caught:
        adapter.suspend("1234")
    assert caught.value.code == "edit_not_applied"


def test_it_raises_line_not_found_when_suspending_an_unknown_line(adapter, panel):
    panel.on("disable_line", {"status": "STATUS_FAILURE"})

    with pytest.raises(LineNotFound):
        adapter.suspend("999999")


def test_it_deletes_a_line(adapter, panel):
    panel.on("delete_line", success())
    adapter.delete("1234")
    assert panel.form("delete_line") == [("id", "1234")]


def test_it_raises_line_not_found_when_deleting_an_unknown_line(adapter, panel):
    panel.on("delete_line", {"status": "STATUS_FAILURE"})
    with pytest.raises(LineNotFound):
        adapter.delete("999999")


# Health ---------------------------------------------------------------------------------------


def test_it_reports_health_from_user_info(adapter, panel):
    panel.on("user_info", success({"id": "1", "username": "admin"}, permissions={}))

    report = adapter.health()

    assert report.ok is True
    assert "admin" in report.detail
    assert report.latency_ms >= 0


def test_it_reports_an_unreachable_panel_as_unhealthy_without_raising(adapter, panel):
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    panel.on("user_info", refused)
    report = adapter.health()

    assert report.ok is False
    assert "connect" in report.detail


def test_it_reports_a_wrong_api_key_as_unhealthy(adapter, panel):
    panel.on("user_info", {"status": "STATUS_FAILURE", "error": "Invalid API key."})

    report = adapter.health()
    assert report.ok is False
    assert "invalid_api_key" in report.detail


def test_it_declares_every_operation_including_devices():
    assert {"create_line", "find_line", "extend", "suspend", "health"} <= XuiOneAdapter.supports
    assert "create_device" in XuiOneAdapter.supports


# Recorded probe 13 (reference/recorded/xui_one_admin_api_probes.txt): create_mag on XC_VM.
def test_it_never_sends_json_bodies(adapter, panel):
    panel.on("create_line", success(row()))
    adapter.create_line(spec())
    with pytest.raises(ValueError):
        json.loads(panel.requests[0].content)

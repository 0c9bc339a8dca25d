"""V8: order/create -> schedule/create (asynchronous issuance) -> get -> delete."""

from __future__ import annotations

from urllib.parse import quote

from emuclient import Sandbox, key_matches, load_pfx, openssl_verify, sans, wait_until


def _obj(name: str, **extra: object) -> dict:
    body = {"certificateName": name, "rootDomain": "example.test", "challengeType": "dns", "email": "ops@example.test",
            "password": "v8-password", "target": "Stand ALone", "isSAN": False}
    body.update(extra)
    return body


def test_v8_create_schedule_get_delete(sandbox: Sandbox) -> None:
    name = "v8.example.test"
    resp = sandbox.post(sandbox.v8("order/create"), json=_obj(name), headers=sandbox.auth())
    assert resp.status_code == 200, resp.text
    obj = resp.json()
    assert obj["certificateName"] == name and obj["subscriptionId"] == sandbox.sid
    assert obj["orderUri"].startswith("https://127.0.0.1:24000/")
    [tok] = obj["tokens"]
    assert tok == {"tokenName": "_acme-challenge.v8", "tokenValue": tok["tokenValue"], "challengeType": "dns",
                   "domain": name}
    cleanup = sandbox.answer_tokens("example.test", obj["tokens"])
    try:
        resp = sandbox.post(sandbox.v8("schedule/create"), json=obj, headers=sandbox.auth())
        assert resp.status_code == 200 and resp.content == b""
        get_url = sandbox.v8("get/certificatename/" + quote(name, safe=""))

        def issued() -> dict | None:
            r = sandbox.get(get_url, headers=sandbox.auth())
            return r.json() if r.status_code == 200 and r.json()["orderUri"] == obj["orderUri"] else None

        cert = wait_until(issued, timeout=20)
    finally:
        cleanup()
    assert cert["challengeType"] == "dns" and cert["password"] == "v8-password" and cert["target"] == "Stand ALone"
    assert cert["isSAN"] is False and cert["subscriptionId"] == sandbox.sid
    key, leaf, chain = load_pfx(cert["pfxString"], "v8-password")
    assert key_matches(key, leaf) and sans(leaf) == [name]
    openssl_verify(leaf, chain, sandbox.env["acme_roots"])
    assert "pemUrl" in cert["certificateDownloadUrl"]
    # scheduling a finalized order again is refused
    resp = sandbox.post(sandbox.v8("schedule/create"), json=obj, headers=sandbox.auth())
    assert resp.status_code == 400 and "already finalized" in resp.text
    # delete
    resp = sandbox.delete(sandbox.v8("delete/certificatename/" + quote(name, safe="")), headers=sandbox.auth())
    assert resp.status_code == 200
    assert sandbox.get(get_url, headers=sandbox.auth()).status_code == 404
    assert sandbox.delete(sandbox.v8("delete/certificatename/" + quote(name, safe="")),
                          headers=sandbox.auth()).status_code == 404


def test_v8_schedule_replaces_seeded_certificate(sandbox: Sandbox) -> None:
    """A renewal of an existing portal certificate: get shows the old one until issuance is done."""
    name = "fresh.example.test"
    url = sandbox.v8("get/certificatename/" + name)
    before = sandbox.get(url, headers=sandbox.auth()).json()
    obj = sandbox.post(sandbox.v8("order/create"), json=_obj(name, password=before["password"]),
                       headers=sandbox.auth()).json()
    cleanup = sandbox.answer_tokens("example.test", obj["tokens"])
    try:
        assert sandbox.post(sandbox.v8("schedule/create"), json=obj, headers=sandbox.auth()).status_code == 200
        # asynchronous: right after scheduling the old certificate is still there
        assert sandbox.get(url, headers=sandbox.auth()).json()["orderUri"] == before["orderUri"]

        def renewed() -> dict | None:
            current = sandbox.get(url, headers=sandbox.auth()).json()
            return current if current["orderUri"] == obj["orderUri"] else None

        cert = wait_until(renewed, timeout=20)
    finally:
        cleanup()
    assert cert["id"] == before["id"] and cert["expiryDate"] != before["expiryDate"]


def test_v8_failed_schedule_keeps_certificate_and_reports_job(sandbox: Sandbox) -> None:
    name = "v8fail.example.test"
    obj = sandbox.post(sandbox.v8("order/create"), json=_obj(name), headers=sandbox.auth()).json()
    # no TXT record: validation fails in the background
    assert sandbox.post(sandbox.v8("schedule/create"), json=obj, headers=sandbox.auth()).status_code == 200
    job = wait_until(lambda: next((j for j in sandbox.admin_call("GET", "/jobs")
                                   if j["order_uri"] == obj["orderUri"] and j["status"] in ("done", "failed")), None),
                     timeout=20)
    assert job["status"] == "failed" and name in job["error"]
    assert sandbox.get(sandbox.v8("get/certificatename/" + name), headers=sandbox.auth()).status_code == 404


def test_v8_errors(sandbox: Sandbox) -> None:
    assert sandbox.post(sandbox.v8("order/create"), json=_obj("x.example.test")).status_code == 401
    resp = sandbox.post(sandbox.v8("order/create"), json=_obj("x.example.test", challengeType="DNS"),
                        headers=sandbox.auth())
    assert resp.status_code == 400 and "dns or http" in resp.text  # V8 wants lower case
    resp = sandbox.post(sandbox.v8("order/create"), json=_obj(""), headers=sandbox.auth())
    assert resp.status_code == 400 and resp.text == "Certificate name is not defined."
    resp = sandbox.post(sandbox.v8("order/create"), json=_obj("*.example.test", challengeType="http"),
                        headers=sandbox.auth())
    assert resp.status_code == 400
    resp = sandbox.post(sandbox.v8("schedule/create"),
                        json=_obj("x.example.test", orderUri="https://127.0.0.1:24000/my-order/nope"),
                        headers=sandbox.auth())
    assert resp.status_code == 404
    assert sandbox.get(sandbox.v8("get/certificatename/nope.example.test"), headers=sandbox.auth()).status_code == 404

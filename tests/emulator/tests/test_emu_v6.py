"""V6: Azure AD client-credentials token, create -> get -> validate -> ready -> finalize -> certificate."""

from __future__ import annotations

import time

from emuclient import Sandbox, key_matches, load_pfx, openssl_verify, sans

CSR_INFO = {"countryName": "TT", "locality": "Homeland Gardens", "state": "Cunupia",
            "organization": "Ray Consulting Limited", "organizationUnit": "IT"}


def test_token_endpoint(sandbox: Sandbox) -> None:
    env = sandbox.env
    form = {"grant_type": "client_credentials", "client_id": env["client_id"], "client_secret": env["client_secret"],
            "scope": env["token_scope"]}
    resp = sandbox.post(env["token_url"], data=form)
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599 and body["access_token"].count(".") == 2
    bad = dict(form, client_secret="wrong")
    resp = sandbox.post(env["token_url"], data=bad)
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"
    resp = sandbox.post(env["token_url"], data=dict(form, grant_type="password"))
    assert resp.status_code == 400 and resp.json()["error"] == "unsupported_grant_type"
    resp = sandbox.post(env["token_url"].replace(env["tenant_id"], "other-tenant"), data=form)
    assert resp.status_code == 400
    resp = sandbox.post(env["token_url"], json=form)  # not form-encoded
    assert resp.status_code == 400


def test_v6_needs_a_valid_token(sandbox: Sandbox) -> None:
    url = sandbox.v6("certificate/get/all")
    assert sandbox.get(url).status_code == 401
    resp = sandbox.get(url, headers=sandbox.auth())  # the API key is not a V6 token
    assert resp.status_code == 401 and resp.headers["Content-Type"].startswith("text/plain")
    assert sandbox.get(url, headers=sandbox.auth(sandbox.token())).status_code == 200
    sandbox.settings(token_ttl=1)
    short = sandbox.token(fresh=True, scope=sandbox.env["token_scope"])
    assert sandbox.get(url, headers=sandbox.auth(short)).status_code == 200
    time.sleep(1.3)
    resp = sandbox.get(url, headers=sandbox.auth(short))
    assert resp.status_code == 401 and "expired" in resp.text


def test_full_dns_flow(sandbox: Sandbox) -> None:
    req = {"hostName": "v6.example.test", "rootDomain": "example.test", "email": "ops@example.test",
           "challengeType": "DNS", "isSAN": False}
    resp = sandbox.v6_post("order/create", req)
    assert resp.status_code == 200, resp.text
    order = resp.json()
    assert order["status"] == "pending" and order["certificateUri"] is None
    assert order["validationTokens"] == [{"tokenName": "_acme-challenge.v6", "tokenValue":
                                          order["validationTokens"][0]["tokenValue"], "challengeType": "DNS"}]
    assert order["challenges"][0]["challengeType"] == "dns-01" and order["challenges"][0]["status"] == "pending"
    ref = {"orderUri": order["orderUri"], "challengeType": "DNS", "rootDomain": "example.test"}
    got = sandbox.v6_post("order/get", ref).json()
    assert got["orderUri"] == order["orderUri"] and got["status"] == "pending"
    # finalize before validation: not ready
    fin = dict(req, orderUri=order["orderUri"], password="pwd1234", csrInfo=CSR_INFO)
    resp = sandbox.v6_post("order/finalize", fin)
    assert resp.status_code == 400 and "ready" in resp.text
    resp = sandbox.v6_post("order/validate", {"orderUri": order["orderUri"], "challengeType": "HTTP"})
    assert resp.status_code == 400 and "DNS challenge" in resp.text
    cleanup = sandbox.answer_tokens("example.test", order["validationTokens"])
    try:
        resp = sandbox.v6_post("order/validate", {"orderUri": order["orderUri"], "challengeType": "DNS"})
        assert resp.status_code == 200 and resp.text == ""
        ready = sandbox.v6_wait_settled(order["orderUri"])
    finally:
        cleanup()
    assert ready["status"] == "ready", ready
    assert ready["challenges"][0]["status"] == "valid"
    # validate only pending orders
    resp = sandbox.v6_post("order/validate", {"orderUri": order["orderUri"], "challengeType": "DNS"})
    assert resp.status_code == 400 and "pending" in resp.text
    resp = sandbox.v6_post("order/finalize", fin)
    assert resp.status_code == 200, resp.text
    done = resp.json()
    assert done["status"] == "valid" and done["certificateUri"].startswith("https://127.0.0.1:24000/")
    # a valid order must not be finalized again
    resp = sandbox.v6_post("order/finalize", fin)
    assert resp.status_code == 400 and "already finalized" in resp.text
    # the certificate
    resp = sandbox.get(sandbox.v6("certificate/get"), params={"name": "v6.example.test"},
                       headers=sandbox.auth(sandbox.token()))
    assert resp.status_code == 200, resp.text
    cert = resp.json()
    assert set(cert) == {"certificateName", "issueDate", "expiryDate", "pfxPassword", "pfxString",
                         "certificateDownloadUrls"}
    assert cert["pfxPassword"] == "pwd1234"
    key, leaf, chain = load_pfx(cert["pfxString"], "pwd1234")
    assert key_matches(key, leaf) and sans(leaf) == ["v6.example.test"]
    openssl_verify(leaf, chain, sandbox.env["acme_roots"])
    listing = sandbox.get(sandbox.v6("certificate/get/all"), headers=sandbox.auth(sandbox.token())).json()
    assert {"certificateName", "issueDate", "expiryDate"} == set(listing[0])
    assert "v6.example.test" in {c["certificateName"] for c in listing}
    # delete
    resp = sandbox.delete(sandbox.v6("certificate/delete"), params={"name": "v6.example.test"},
                          headers=sandbox.auth(sandbox.token()))
    assert resp.status_code == 200
    resp = sandbox.get(sandbox.v6("certificate/get"), params={"name": "v6.example.test"},
                       headers=sandbox.auth(sandbox.token()))
    assert resp.status_code == 404
    resp = sandbox.delete(sandbox.v6("certificate/delete"), params={"name": "v6.example.test"},
                          headers=sandbox.auth(sandbox.token()))
    assert resp.status_code == 404


def test_san_rules_and_bad_requests(sandbox: Sandbox) -> None:
    base = {"hostName": "example.test", "rootDomain": "example.test", "email": "ops@example.test",
            "challengeType": "HTTP", "isSAN": False}
    cases = [
        (dict(base, hostName="*.example.test"), "DNS challenge"),  # wildcard over HTTP
        (dict(base, hostName="www.example.test", isSAN=True), "root domain"),  # SAN host must be the apex
        (dict(base, hostName="a.example.test,b.example.test"), "not valid"),
        (dict(base, hostName=""), "Host name is not defined."),
        (dict(base, hostName="www.other.test"), "not in the root domain"),
        (dict(base, challengeType="dns"), "not valid"),  # V6 wants upper case
    ]
    for body, text in cases:
        resp = sandbox.v6_post("order/create", body)
        assert resp.status_code == 400, body
        assert text in resp.text, (body, resp.text)
        assert resp.headers["Content-Type"].startswith("text/plain")
    resp = sandbox.post(sandbox.v6("order/create"), data="{not json", headers=sandbox.auth(sandbox.token()))
    assert resp.status_code == 400
    resp = sandbox.v6_post("order/get", {"orderUri": "https://127.0.0.1:24000/my-order/nope"})
    assert resp.status_code == 404
    resp = sandbox.v6_post("order/get", {})
    assert resp.status_code == 400 and resp.text == "Order uri is not defined."
    resp = sandbox.get(sandbox.v6("certificate/get"), headers=sandbox.auth(sandbox.token()))
    assert resp.status_code == 400 and resp.text == "Certificate name is not defined."


def test_http_san_order_tokens(sandbox: Sandbox) -> None:
    req = {"hostName": "example2.test", "rootDomain": "example2.test", "email": "ops@example.test",
           "challengeType": "HTTP", "isSAN": True}
    order = sandbox.v6_post("order/create", req).json()
    assert len(order["validationTokens"]) == 2
    assert {c["challengeType"] for c in order["challenges"]} == {"http-01"}
    for tok, chall in zip(order["validationTokens"], order["challenges"]):
        assert tok["tokenName"] == chall["token"] and tok["challengeType"] == "HTTP"

# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Connection options shared by every rcl.ssl module.
    DOCUMENTATION = r"""
options:
  service:
    description:
      - The ordering system behind the certificate.
      - V(rcl) is RCL SSL (its API generation is O(api_version)).
      - V(certifire) is a self-hosted Certifire service ("ACME Orders" API), which runs the ACME work and the
        validation itself. Needs O(api_url), O(api_username) and O(api_password).
      - V(servertastic) is Servertastic's reseller API v2 (paid in points; DNS, file or e-mail validation).
        Needs O(api_key) (the reseller key).
      - If not set, the environment variable E(RCL_SERVICE) is used.
    type: str
    choices: [rcl, certifire, servertastic]
    default: rcl
    version_added: 0.1.0
  api_version:
    description:
      - Generation of the RCL SSL API to talk to (O(service=rcl) only).
      - V(v7) is the "RCL SSL Core API" (API key; renews certificates that exist in the portal).
      - V(v6) is the "RCL Core API" V6 (Azure AD client-credentials token).
      - V(v8) is the "RCL SSL API" V8 (API key; asynchronous issuance).
      - If not set, the environment variable E(RCL_API_VERSION) is used.
    type: str
    choices: [v6, v7, v8]
    default: v7
  api_url:
    description:
      - Base URL of the API, up to (not including) the subscription id.
      - Defaults per O(api_version) to V(https://rclapi.azure-api.net/public) (V7),
        V(https://rclapi.azure-api.net/production/ssl/core/v1) (V6) and
        V(https://rclapi.azure-api.net/prod/v3/ssl/certificate/subscription) (V8).
      - With O(service=certifire), the service's base URL (paths start with C(/api)); required, Certifire is
        self-hosted. With O(service=servertastic), defaults to V(https://api2.servertastic.com) (the test system is
        V(https://test-api2.servertastic.com)).
      - If not set, the environment variable E(RCL_API_URL) is used.
    type: str
  subscription_id:
    description:
      - The subscription id shown in the RCL SSL Portal (Subscription Details).
      - If not set, the environment variable E(RCL_SUBSCRIPTION_ID) is used.
      - Required with O(service=rcl), either as an option or from the environment; not used by the other services.
    type: str
  api_key:
    description:
      - The subscription's API key (portal Subscription > API Key), sent as a Bearer token.
      - Required for O(api_version=v7) and O(api_version=v8).
      - With O(service=servertastic), the reseller API key (required); it also seals the state file unless
        O(state_passphrase) is set.
      - If not set, the environment variable E(RCL_API_KEY) is used.
    type: str
  api_username:
    description:
      - The user name for HTTP Basic authentication with O(service=certifire) (required there).
      - If not set, the environment variable E(RCL_API_USERNAME) is used.
    type: str
    version_added: 0.1.0
  api_password:
    description:
      - The password for HTTP Basic authentication with O(service=certifire) (required there).
      - If not set, the environment variable E(RCL_API_PASSWORD) is used.
    type: str
    version_added: 0.1.0
  client_id:
    description:
      - Azure AD application (client) id for O(api_version=v6) (O(service=rcl)); it must also be registered
        in the portal (Subscription > API Client).
      - If not set, the environment variable E(RCL_CLIENT_ID) is used.
    type: str
  client_secret:
    description:
      - Azure AD client secret for O(api_version=v6).
      - If not set, the environment variable E(RCL_CLIENT_SECRET) is used.
    type: str
  tenant_id:
    description:
      - Azure AD tenant id for O(api_version=v6); used to build the default O(token_url).
      - If not set, the environment variable E(RCL_TENANT_ID) is used.
    type: str
  token_url:
    description:
      - OAuth2 token endpoint for O(api_version=v6).
      - Defaults to V(https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token).
      - If not set, the environment variable E(RCL_TOKEN_URL) is used.
    type: str
  validate_certs:
    description:
      - Whether to verify the API's TLS certificate. Only set to V(false) against a test service.
    type: bool
    default: true
  ca_path:
    description:
      - PEM bundle of certificate authorities that verify the API's TLS certificate,
        instead of the system's trust store.
      - If not set, the environment variable E(RCL_CA_PATH) is used.
    type: path
  timeout:
    description:
      - Seconds one HTTP request may take, end to end - connecting, sending and reading the whole reply.
        A server that sends its reply slowly cannot hold a task longer.
      - From 1 to 86400. Replies larger than 4 MiB (downloads 1 MiB) are refused.
    type: int
    default: 30
  retries:
    description:
      - How many times a request that is safe to repeat (a read) is retried after a connection
        error, a timeout, HTTP 429 or a 5xx reply, with exponential backoff and jitter, honouring
        C(Retry-After). All attempts of one request together end within 120 seconds, or O(timeout) if that
        is longer. That is a deadline, not only a limit on the waits between attempts.
      - From 0 to 20.
      - Requests that create an order or a certificate are never retried after they may have
        reached the service (they cost quota); they are retried only on HTTP 429.
    type: int
    default: 3
notes:
  - "The modules talk to the API from where they run. Run them on the controller or in an
    execution environment (for example with C(delegate_to: localhost)); managed hosts need
    nothing."
  - The service allows about 100 requests a week per subscriber. Every module documents how many
    requests it makes; a converged run makes none or one.
  - Secrets (API key, client secret, passwords, tokens, Servertastic order tokens, PFX password, download URLs,
    private keys) are never returned, logged or shown in error messages.
  - RCL SSL's own options (O(api_version), O(subscription_id), O(client_id), O(client_secret), O(tenant_id),
    O(token_url)) are ignored by the other services. O(api_url) and O(api_key) (E(RCL_API_URL), E(RCL_API_KEY)) are
    read by every service; when one job uses several services, pass each its options (the role's
    C(rcl_certificate_services)) rather than through the environment.
requirements:
  - requests >= 2.20
"""

    # The order options of the services other than RCL SSL.
    SERVICES = r"""
options:
  acme_account_email:
    description:
      - O(service=certifire) - the e-mail of the service's ACME account for these orders. The account is found,
        or created once, per e-mail (and CA). Required to order.
    type: str
    version_added: 0.1.0
  acme_server:
    description:
      - O(service=certifire) - the ACME CA's base URL (its directory is C(<acme_server>directory)); a missing
        trailing C(/) is added. When not set, the service's default (Let's Encrypt staging for Certifire 0.3).
    type: str
    version_added: 0.1.0
  certifire_provider:
    description:
      - O(service=certifire) - the service's DNS provider for the DNS-01 records. Certifire 0.3 knows only
        V(route53), and answers an unknown one with order id 0, which fails the task.
      - When not set, V(route53).
    type: str
    version_added: 0.1.0
  certifire_reissue:
    description:
      - O(service=certifire) with C(force=true) - for a certificate that is not due, send Certifire's reissue (C(COPY))
        instead of posting the order again. The reissue B(revokes the live certificate before the new one exists)
        (hosts serve a revoked certificate until they are deployed again), and the module warns; use it when the CA
        reuses its authorizations and a re-posted order issues nothing.
      - Never sent without C(force=true) (M(rcl.ssl.rcl_order), M(rcl.ssl.rcl_obtain)). When not set, V(false).
    type: bool
    version_added: 0.1.0
  product_code:
    description:
      - O(service=servertastic) - the product to order, C(<Product>-<months>), for example V(RapidSSL-12) or
        V(PositiveSSL-12). Its points are spent when the order token is generated. Required to order.
    type: str
    version_added: 0.1.0
  contacts:
    description:
      - O(service=servertastic) - the technical and administrative contacts of the order (real people; the
        technical contact receives a copy of the certificate), as a dictionary with the keys C(tech) and C(admin),
        each a dictionary with C(first_name), C(last_name), C(phone), C(email) and C(title). Required to order.
    type: dict
    version_added: 0.1.0
  approver_email:
    description:
      - O(service=servertastic) with C(challenge_type=email) - who approves the order; one of the addresses of
        Servertastic's approver list for the domain (such as C(admin@), C(hostmaster@), C(webmaster@) the base
        domain).
    type: str
    version_added: 0.1.0
  state_dir:
    description:
      - O(service=servertastic) - the directory on the controller that keeps, in C(servertastic.json), the orders
        that outlive a run (reference, stage) and, sealed, their order token and private key, so that the next run
        resumes an unfinished order without a new token, and finds the key of the certificate in use.
      - The directory is created with mode C(0700) and the file written with mode C(0600). The token and key are
        encrypted (Fernet) with a key derived (PBKDF2-HMAC-SHA256) from O(state_passphrase), else the API key.
        Where the controller's disk does not last (AWX job containers), keep this directory on storage that does,
        or let the role C(rcl.ssl.rcl_certificate) copy the file to a managed host.
      - If not set, the environment variable E(RCL_STATE_DIR) is used, else V(~/.ansible/rcl.ssl).
    type: path
    version_added: 0.1.0
  state_passphrase:
    description:
      - O(service=servertastic) - the passphrase that seals the token and key in the state file. When not set,
        the reseller API key; set one so that rotating the API key does not lock the file.
      - If not set, the environment variable E(RCL_STATE_PASSPHRASE) is used.
    type: str
    version_added: 0.1.0
  key_type:
    description:
      - O(service=servertastic) - the type of the private key generated on the controller for a new order.
        When not set, V(rsa2048). Certifire generates its keys itself.
    type: str
    choices: [rsa2048, rsa3072, rsa4096, ec256, ec384]
    version_added: 0.1.0
"""

    ATTRIBUTES = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying the target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
  action_group:
    description: Use C(group/rcl.ssl.rcl) in C(module_defaults) to set the connection options once for all rcl.ssl modules.
    support: full
    membership:
      - rcl.ssl.rcl
"""

    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
  idempotent:
    support: full
    details:
      - This action does not modify state.
"""

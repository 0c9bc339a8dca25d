# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Connection options shared by every rcl.ssl module.
    DOCUMENTATION = r"""
options:
  api_version:
    description:
      - Generation of the RCL SSL API to talk to.
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
      - If not set, the environment variable E(RCL_API_URL) is used.
    type: str
  subscription_id:
    description:
      - The subscription id shown in the RCL SSL Portal (Subscription Details).
      - If not set, the environment variable E(RCL_SUBSCRIPTION_ID) is used.
      - Required, either as an option or from the environment.
    type: str
    required: true
  api_key:
    description:
      - The subscription's API key (portal Subscription > API Key), sent as a Bearer token.
      - Required for O(api_version=v7) and O(api_version=v8).
      - If not set, the environment variable E(RCL_API_KEY) is used.
    type: str
  client_id:
    description:
      - Azure AD application (client) id for O(api_version=v6); it must also be registered
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
  - Secrets (API key, client secret, tokens, PFX password, download URLs, private keys) are never
    returned, logged or shown in error messages.
requirements:
  - requests >= 2.20
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

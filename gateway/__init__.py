"""The gateway: the one door for LINE apps, collectors' phones and grant systems.

It owns users, credentials, refresh tokens, API clients and signing keys; issues ES256 JWTs;
forwards ``/v1/<service>/...`` to the services; and serves the merged OpenAPI document.
"""

"""Reaching an endpoint that lives in another account (README "Accounts").

When the stage's endpoint is in a target account, the pipeline stack sets
`ENDPOINT_READER_ROLE_ARN` on the function that checks it (the staging gate,
the production verification): its endpoint clients then run with that role's
credentials, obtained with `sts:AssumeRole` and reused until five minutes
before they expire. Without the variable the function's own credentials are
used, as in a single-account release. The registry, the artifacts and the
decision records stay in the pipeline account: only endpoint clients change.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.aws_errors import describe_aws_error

from .clients import client_of
from .served_model import ServedModelError

__all__ = ["READER_ROLE_VARIABLE", "EndpointAccessError", "EndpointSessions"]

# Written by stacks/components/cross_account_access.py (a test keeps the two equal).
READER_ROLE_VARIABLE = "ENDPOINT_READER_ROLE_ARN"
_RENEW_BEFORE_EXPIRY = timedelta(minutes=5)
_STS = client_of("sts")


class EndpointAccessError(ServedModelError):
    """The endpoint's account could not be reached (one line: the role and AWS's error code)."""


def _default_session(**credentials: str) -> Any:
    import boto3

    return boto3.Session(**credentials)


class EndpointSessions:
    """boto3 sessions for the endpoint's account: the reader role's when one is configured, else the function's."""

    def __init__(
        self,
        *,
        session_name: str,
        sts: Callable[[], Any] = _STS,
        session_factory: Callable[..., Any] = _default_session,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._session_name = session_name
        self._sts, self._session_factory, self._now = sts, session_factory, now
        self._cached: tuple[str, datetime, Any] | None = None

    @staticmethod
    def role_arn(environ: Mapping[str, str] | None = None) -> str | None:
        value = (os.environ if environ is None else environ).get(READER_ROLE_VARIABLE, "").strip()
        return value or None

    def session(self, environ: Mapping[str, str] | None = None) -> Any:
        """The session endpoint clients are built from (raises EndpointAccessError when AssumeRole fails)."""
        role_arn = self.role_arn(environ)
        if role_arn is None:
            return self._session_factory()
        if self._cached and self._cached[0] == role_arn and self._cached[1] - _RENEW_BEFORE_EXPIRY > self._now():
            return self._cached[2]
        try:
            answer = self._sts().assume_role(RoleArn=role_arn, RoleSessionName=self._session_name)
            credentials = answer["Credentials"]
        except Exception as error:  # noqa: BLE001 - reported as one line, never a traceback
            raise EndpointAccessError(f"AssumeRole {role_arn} failed: {describe_aws_error(error)}") from None
        session = self._session_factory(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        expiry = credentials["Expiration"]
        self._cached = (role_arn, expiry if expiry.tzinfo else expiry.replace(tzinfo=UTC), session)
        return session

    def client(self, service: str, environ: Mapping[str, str] | None = None, **kwargs: Any) -> Any:
        """A client of `service` (sagemaker, sagemaker-runtime) for the endpoint's account."""
        return self.session(environ).client(service, **kwargs)

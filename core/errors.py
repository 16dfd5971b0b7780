"""Errors a marketer reads. Each message says what went wrong and what to do instead."""

from __future__ import annotations


class UserFacingError(Exception):
    """Base: the message is shown to the person as is (never a traceback)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(UserFacingError):
    """The thing named does not exist for this caller (or belongs to someone else)."""


class Ambiguous(UserFacingError):
    """The name matches more than one thing; the message lists them."""


class InvalidArgument(UserFacingError):
    """An argument is missing, malformed or out of range."""


class NotAllowed(UserFacingError):
    """The caller may see this but not change it (e.g. job changes are for admins); nothing changed."""


class NoData(UserFacingError):
    """The query is fine but there is nothing to compute over (e.g. no spend in the window)."""


class NeedsModelKey(UserFacingError):
    """This needs a model API key; the message says which variable to set."""


class ExternalServiceError(UserFacingError):
    """An outside service (Meta, a model provider) failed; the message says which and why."""


class ConfigurationError(UserFacingError):
    """The deployment is missing or has a wrong setting; the message names the variable."""


class NeedsExtension(ConfigurationError):
    """The database server lacks a Postgres extension this feature needs; the message names the feature,
    the extension and how to add it. Nothing was changed."""


class SetupError(UserFacingError):
    """The app can't start as it is set up here (its port, its database, the migrations): one line naming
    the cause and the fix; the CLI exits 1."""


class MetaAuthError(ExternalServiceError):
    """Meta refused the token (code 190: expired or revoked): the brand must reconnect."""


class NeedsReconnect(UserFacingError):
    """A Meta connection is marked expired: nothing syncs on it until someone reconnects (the message
    says how); nothing was called and nothing changed."""


class MetaThrottled(ExternalServiceError):
    """Meta kept throttling one ad account; the run stopped and resumes from where it was."""


class MetaTooMuchData(ExternalServiceError):
    """Meta refused a synchronous insights request as too large (code 100, subcode 1487534)."""


class DatabaseUnavailable(UserFacingError):
    """The database can't be reached or dropped the connection (down, restarting): the person reads
    "The database is unavailable, try again shortly." (chat, sign-in, MCP, the CLI), never Postgres' text."""

    MESSAGE = "The database is unavailable, try again shortly."

    def __init__(self, message: str = MESSAGE) -> None:
        super().__init__(message)

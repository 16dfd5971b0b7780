"""Secrets at rest: Meta access and refresh tokens are stored encrypted (Fernet: AES-128-CBC with an
HMAC), never in the clear.

The key is `VIRALTRACKER_SECRET_KEY` (a Fernet key; several, comma-separated, to rotate: the first
encrypts, any decrypts). In embedded mode without it, a key is generated once into
`$VIRALTRACKER_HOME/secret.key` (owner-only). On a production database (DATABASE_URL) the key must
be set: a generated key on one app server would make tokens unreadable on the next.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from core.errors import ConfigurationError
from services.platform.server_files import write_private
from settings import Settings, get_settings

KEY_FILE = "secret.key"


class TokenVault:
    """Encrypts and decrypts tokens; what comes out is a SecretStr (its repr is `**********`)."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ConfigurationError("No encryption key: set VIRALTRACKER_SECRET_KEY.")
        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except (ValueError, TypeError):
            raise ConfigurationError(
                "VIRALTRACKER_SECRET_KEY is not a valid key. Make one with:"
                ' python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
            ) from None

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> TokenVault:
        settings = settings or get_settings()
        if settings.secret_key is not None:
            raw = settings.secret_key.get_secret_value()
            return cls([k.strip().encode() for k in raw.split(",") if k.strip()])
        if settings.database_url:
            raise ConfigurationError(
                "Set VIRALTRACKER_SECRET_KEY to store Meta tokens: with DATABASE_URL the key must be"
                " the same on every app server, so none is generated."
            )
        path = settings.viraltracker_home / KEY_FILE
        if not path.exists():
            write_private(path, Fernet.generate_key())
        return cls([path.read_bytes().strip()])

    def encrypt(self, secret: str | SecretStr) -> str:
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, stored: str) -> SecretStr:
        try:
            return SecretStr(self._fernet.decrypt(stored.encode()).decode())
        except InvalidToken:
            raise ConfigurationError(
                "A stored Meta token can't be decrypted with this VIRALTRACKER_SECRET_KEY (was the key"
                " changed?). Put the old key after the new one, comma-separated, or reconnect the brand."
            ) from None

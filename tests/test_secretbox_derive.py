"""Keys derived from the secret key: one per purpose, stable, and never the Fernet key itself."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from cryptography.fernet import Fernet

from sendpool.errors import ConfigError
from sendpool.secretbox import _HKDF_SALT, DERIVED_KEY_BYTES, RETURN_PATH_PURPOSE, SecretBox

KEY = Fernet.generate_key()


def test_the_same_purpose_gives_the_same_key_from_any_box_with_that_secret() -> None:
    first, second = SecretBox(KEY), SecretBox(KEY)
    assert first.derive(RETURN_PATH_PURPOSE) == second.derive(RETURN_PATH_PURPOSE)
    assert len(first.derive(RETURN_PATH_PURPOSE)) == DERIVED_KEY_BYTES


def test_different_purposes_and_different_secrets_give_different_keys() -> None:
    box = SecretBox(KEY)
    keys = {box.derive(p) for p in (RETURN_PATH_PURPOSE, b"return-path ", b"webhooks", b"r")}
    assert len(keys) == 4
    assert SecretBox(Fernet.generate_key()).derive(RETURN_PATH_PURPOSE) not in keys


def test_a_derived_key_is_never_the_fernet_key_or_either_half_of_it() -> None:
    raw = base64.urlsafe_b64decode(KEY)
    derived = SecretBox(KEY).derive(RETURN_PATH_PURPOSE)
    assert derived not in (raw, raw[:16], raw[16:], KEY)
    assert raw[:16] not in derived and raw[16:] not in derived


def test_the_derivation_is_rfc_5869_hkdf_sha256_of_the_key_bytes() -> None:
    """Worked out here with hmac alone: a changed derivation would orphan every token sent."""
    raw = base64.urlsafe_b64decode(KEY)
    prk = hmac.new(_HKDF_SALT, raw, hashlib.sha256).digest()  # extract (§2.2)
    okm = hmac.new(prk, RETURN_PATH_PURPOSE + b"\x01", hashlib.sha256).digest()  # expand (§2.3)
    assert SecretBox(KEY).derive(RETURN_PATH_PURPOSE) == okm[:DERIVED_KEY_BYTES]


def test_a_purpose_is_required() -> None:
    with pytest.raises(ValueError, match="purpose"):
        SecretBox(KEY).derive(b"")


def test_a_bad_secret_key_is_still_a_config_error() -> None:
    with pytest.raises(ConfigError):
        SecretBox(b"not-a-key")

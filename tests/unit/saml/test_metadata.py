"""IdP metadata parsing on its own: what the API's 1 MiB body cap never lets through."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

import pytest

from app.errors import InvalidInputError
from app.saml.metadata import METADATA_MAX_CHARS
from app.saml.metadata import parse_idp_metadata
from tests.saml_idp import TestIdp
from tests.saml_idp import make_key_pair


def _reason(document: str) -> str:
    with pytest.raises(InvalidInputError) as err:
        parse_idp_metadata(document, datetime.now(UTC))
    return err.value.reason


def test_oversized_metadata_is_refused_before_parsing() -> None:
    document = TestIdp().metadata()
    padded = document.replace(
        "</md:EntityDescriptor>", " " * METADATA_MAX_CHARS + "</md:EntityDescriptor>"
    )
    assert _reason(padded) == "saml.metadata_size"


def test_external_entity_is_refused() -> None:
    document = (
        TestIdp()
        .metadata()
        .replace(
            '<?xml version="1.0"?>',
            '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
        )
    )
    assert _reason(document) == "saml.metadata_dtd"


def test_every_signing_certificate_is_kept() -> None:
    idp = TestIdp()
    idp.keys.append(make_key_pair("second"))
    metadata = parse_idp_metadata(idp.metadata(), datetime.now(UTC))
    assert len(metadata.signing_certs) == 2
    assert metadata.entity_id == idp.entity_id

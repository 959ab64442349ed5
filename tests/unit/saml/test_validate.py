"""validate.py hands python3-saml a document it parsed once, and keeps the answers to
python3-saml's XPath queries per Response. Both must judge every Response exactly as
python3-saml's own Response does, and read the same values from the valid ones."""

from __future__ import annotations

from typing import Any

import pytest
from onelogin.saml2.response import OneLogin_Saml2_Response

from app.errors import InvalidIdentityTokenError
from app.saml import validate
from tests.saml_idp import TestIdp
from tests.saml_idp import encrypt_assertion
from tests.saml_idp import make_key_pair
from tests.saml_idp import sibling_forgery

ACS = "https://sp.example/acs"
AUDIENCE = "https://sp.example"


def _read_back(response: Any) -> tuple[object, ...]:
    return (
        response.get_nameid(),
        response.get_attributes(),
        response.get_assertion_id(),
        response.get_audiences(),
        response.get_session_not_on_or_after(),
        response.get_authn_contexts(),
    )


@pytest.mark.parametrize("case", ["genuine", "encrypted", "tampered", "wrapped", "unsigned"])
def test_responses_are_judged_as_python3_saml_judges_them(case: str) -> None:
    idp = TestIdp()
    sp_key, sp_cert = make_key_pair("sp")
    settings = validate.saml_settings(
        AUDIENCE, ACS, sp_cert, sp_key, idp.entity_id, idp.sso_url, (idp.cert,)
    )
    hooks = {
        "tampered": lambda xml: xml.replace("alice@", "mallory@"),
        "wrapped": sibling_forgery,
    }
    saml_response = idp.response(
        acs=ACS,
        audience=AUDIENCE,
        roles=["r,p"],
        raw_xml_hook=hooks.get(case),
        sign_assertion=case != "unsigned",
    )
    if case == "encrypted":
        saml_response = encrypt_assertion(saml_response, sp_cert)

    if case == "wrapped":  # refused before python3-saml sees it; python3-saml refuses it too
        with pytest.raises(InvalidIdentityTokenError, match="signature must refer"):
            validate._read(saml_response)
        assert not OneLogin_Saml2_Response(settings, saml_response).is_valid(
            validate._request_data(ACS)
        )
        return
    ours = validate._Response(settings, validate._read(saml_response))
    theirs = OneLogin_Saml2_Response(settings, saml_response)
    request_data = validate._request_data(ACS)
    verdicts = [r.is_valid(request_data) for r in (ours, theirs)]
    assert verdicts == [case in ("genuine", "encrypted")] * 2
    assert ours.get_error() == theirs.get_error()
    if verdicts[0]:
        assert _read_back(ours) == _read_back(theirs)
        assert _read_back(ours) == _read_back(ours)  # answers kept, not used up

"""Our error codes and HTTP statuses are AWS's, as botocore's bundled models state them."""

from __future__ import annotations

import botocore.session
import pytest

from app import errors

_MODELS = {name: botocore.session.get_session().get_service_model(name) for name in ("iam", "sts")}
_AWS_ERRORS = {
    shape.error_code: shape for model in _MODELS.values() for shape in model.error_shapes
}


def _all_errors() -> list[type[errors.ServiceError]]:
    found, todo = [], [errors.ServiceError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return [c for c in found if c not in (errors.ServiceError, errors.SenderError)]


#: Codes every AWS Query service shares, documented in "Common Errors", not in the models.
PROTOCOL_LEVEL = {
    "InvalidAction",
    "MissingAction",
    "ValidationError",
    "InvalidParameterValue",
    "Throttling",
    "RequestEntityTooLarge",
    "AccessDenied",
    "MissingAuthenticationToken",
    "IncompleteSignature",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "RequestExpired",
    "ExpiredToken",
    "InternalFailure",
}


@pytest.mark.parametrize("cls", _all_errors(), ids=lambda c: c.__name__)
def test_every_code_is_aws(cls: type[errors.ServiceError]) -> None:
    assert cls.code in _AWS_ERRORS or cls.code in PROTOCOL_LEVEL


@pytest.mark.parametrize(
    "cls", [c for c in _all_errors() if c.code in _AWS_ERRORS], ids=lambda c: c.__name__
)
def test_modelled_errors_match_botocore(cls: type[errors.ServiceError]) -> None:
    shape = _AWS_ERRORS[cls.code]
    assert cls.status == shape.metadata.get("error", {}).get("httpStatusCode", cls.status)
    assert cls.fault == (
        "Sender" if shape.metadata.get("error", {}).get("senderFault") else "Receiver"
    )


def test_the_models_know_the_codes_boto3_users_catch() -> None:
    for code in (
        "NoSuchEntity",
        "EntityAlreadyExists",
        "LimitExceeded",
        "DeleteConflict",
        "MalformedPolicyDocument",
        "ExpiredTokenException",
        "IDPRejectedClaim",
        "InvalidIdentityToken",
    ):
        assert code in _AWS_ERRORS

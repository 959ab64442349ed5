"""The one error hierarchy of fedbridge.

Every refusal the service can give is a ``ServiceError`` subclass whose ``code``
is AWS's error code exactly (boto3 picks its exception class from it), with
AWS's HTTP status and fault type. ``app/api/errors.py`` is the only place that
turns them into ``<ErrorResponse>`` XML; the browser pages have their own
translator. Domain code raises these and never builds responses.

``reason`` is the stable, machine-readable cause written to the audit log
(``sigv4.bad_signature``, ``saml.wrong_recipient``…). Reasons are API: never
rename one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import ClassVar


class FedbridgeError(Exception):
    """Base of every exception fedbridge defines."""


class ServiceError(FedbridgeError):
    """A refusal with an AWS error code, HTTP status and fault type."""

    #: AWS's error code, the ``<Code>`` of the error response.
    code: ClassVar[str] = "InternalFailure"
    #: HTTP status AWS answers this code with.
    status: ClassVar[int] = 500
    #: ``Sender`` when the caller is at fault, ``Receiver`` when we are.
    fault: ClassVar[str] = "Receiver"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        #: The plain-language message sent to the caller. Never a secret.
        self.message = message
        #: Stable audit reason; defaults to the error code.
        self.reason = reason or self.code
        #: Writes that must land although the request's own transaction rolls back
        #: (a failed MFA attempt counts towards the lockout). Each gets a DB session.
        self.after_rollback: list[Callable[[Any], None]] = []


class SenderError(ServiceError):
    """A refusal caused by the request (HTTP 400 unless a subclass says otherwise)."""

    status = 400
    fault = "Sender"


# --- request shape (Query protocol) -------------------------------------------


class InvalidActionError(SenderError):
    code = "InvalidAction"


class MissingActionError(SenderError):
    code = "MissingAction"


class ValidationError(SenderError):
    code = "ValidationError"


class InvalidParameterValueError(SenderError):
    code = "InvalidParameterValue"


class InvalidInputError(SenderError):
    code = "InvalidInput"


class MalformedPolicyDocumentError(SenderError):
    code = "MalformedPolicyDocument"


class PackedPolicyTooLargeError(SenderError):
    code = "PackedPolicyTooLarge"


class ThrottlingError(SenderError):
    code = "Throttling"


class RequestEntityTooLargeError(SenderError):
    code = "RequestEntityTooLarge"
    status = 413


# --- IAM entity state -----------------------------------------------------------


class NoSuchEntityError(SenderError):
    code = "NoSuchEntity"
    status = 404


class EntityAlreadyExistsError(SenderError):
    code = "EntityAlreadyExists"
    status = 409


class LimitExceededError(SenderError):
    code = "LimitExceeded"
    status = 409


class DeleteConflictError(SenderError):
    code = "DeleteConflict"
    status = 409


class UnmodifiableEntityError(SenderError):
    code = "UnmodifiableEntity"


class ConcurrentModificationError(SenderError):
    code = "ConcurrentModification"
    status = 409


# --- authentication (SigV4) and authorization --------------------------------


class AccessDeniedError(SenderError):
    code = "AccessDenied"
    status = 403


class InvalidAuthenticationCodeError(SenderError):
    code = "InvalidAuthenticationCode"
    status = 403


class MissingAuthenticationTokenError(SenderError):
    code = "MissingAuthenticationToken"
    status = 403


class IncompleteSignatureError(SenderError):
    code = "IncompleteSignature"


class InvalidClientTokenIdError(SenderError):
    code = "InvalidClientTokenId"
    status = 403


class SignatureDoesNotMatchError(SenderError):
    code = "SignatureDoesNotMatch"
    status = 403


class RequestExpiredError(SenderError):
    """A presigned URL used after its X-Amz-Expires."""

    code = "RequestExpired"


class ExpiredTokenError(SenderError):
    """Temporary credentials used after their Expiration."""

    code = "ExpiredToken"
    status = 403


# --- STS and federation ---------------------------------------------------------


class RegionDisabledError(SenderError):
    code = "RegionDisabledException"
    status = 403


class ExpiredFederationTokenError(SenderError):
    """An expired SAML assertion or web identity token (boto3: ExpiredTokenException)."""

    code = "ExpiredTokenException"


class InvalidIdentityTokenError(SenderError):
    code = "InvalidIdentityToken"


class IdpRejectedClaimError(SenderError):
    code = "IDPRejectedClaim"
    status = 403


class IdpCommunicationError(SenderError):
    code = "IDPCommunicationError"


class InvalidAuthorizationMessageError(SenderError):
    code = "InvalidAuthorizationMessageException"


# --- ours -------------------------------------------------------------------------


class InternalFailureError(ServiceError):
    code = "InternalFailure"
    status = 500
    fault = "Receiver"

"""What of a message's signatures and encryption fedbridge lets xmlsec act on.

xmlsec resolves every URI a signature or an encrypted element names, files and
network addresses included, follows XPointer expressions and runs every transform
listed, before it knows whether the signature is good: a Reference to
`file:///dev/zero`, in a response anyone can forge, held a worker and a core for
good. IdPs sign one element by its ID with the enveloped-signature transform and
canonicalization, and point only at IDs inside the message (`#id`); anything else is
refused before xmlsec runs.

xmlsec reads attributes by local name, whatever their namespace (`x:URI` is a URI to
it), and follows elements beyond ds: and xenc: (dsig11:KeyInfoReference): so every
element under a signature or an encrypted element is looked at, and any URI or
Algorithm attribute in a namespace is refused outright.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any
from typing import NamedTuple

import xmlsec
from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C

_DS, _XENC = C.NS_DS, C.NS_XENC
#: The transforms and canonicalizations IdPs sign with; XPath, XSLT and base64 are
#: processing the sender would choose.
SAFE_TRANSFORMS = frozenset(
    t.href
    for t in (
        xmlsec.constants.TransformEnveloped,
        xmlsec.constants.TransformExclC14N,
        xmlsec.constants.TransformExclC14NWithComments,
        xmlsec.constants.TransformInclC14N,
        xmlsec.constants.TransformInclC14NWithComments,
        xmlsec.constants.TransformInclC14N11,
        xmlsec.constants.TransformInclC14N11WithComments,
    )
)
_TRANSFORMS = (f"{{{_DS}}}Transform", f"{{{_DS}}}CanonicalizationMethod")
#: A bare ID in this message: no XPointer, which xmlsec would evaluate.
_SAME_DOCUMENT_ID = re.compile(r"#[A-Za-z_][A-Za-z0-9_.-]*")
_XENC11 = "http://www.w3.org/2009/xmlenc11#"


class Problem(NamedTuple):
    reason: str  # the audit reason
    text: str


_WRAPPED = Problem(
    "saml.signature_wrapping",
    "its signature must refer to the element it signs, and to nothing else",
)
_OUTSIDE = Problem(
    "saml.unsafe_reference", "it refers to something other than an element of the message"
)
_TRANSFORM = Problem("saml.unsafe_reference", "it names a transform IdPs do not sign with")
_DERIVED = Problem("saml.unsafe_reference", "its key is agreed or derived, not encrypted to us")


def _each(tree: Any, *tags: str) -> Iterator[Any]:
    # One tag per iter(): python3-saml's hardened elements fail when given several.
    return itertools.chain.from_iterable(tree.iter(tag) for tag in tags)


#: Every URI or Algorithm attribute at or under an element, in any namespace (XPath sees
#: them as xmlsec does, by local name); and every key agreement or derivation element
#: (xmlsec 1.3): a PBKDF2 iteration count is the sender's to choose, and IdPs encrypt to
#: an SP's RSA key with a plain EncryptedKey.
_WATCHED_ATTRIBUTES = etree.XPath(
    "descendant-or-self::*/@*[local-name() = 'URI' or local-name() = 'Algorithm']"
)
_KEY_DERIVATION = etree.XPath(
    "descendant-or-self::xenc:AgreementMethod"
    " | descendant-or-self::xenc11:*[not(self::xenc11:MGF)]",
    namespaces={"xenc": _XENC, "xenc11": _XENC11},
)


def outside_reference(tree: Any) -> Problem | None:
    """Why `tree` (a signature, an encrypted element) must not reach xmlsec, or None: a
    URI other than a bare ID, a transform no IdP signs with, either attribute in a
    namespace, or key agreement or derivation, anywhere in it."""
    if _KEY_DERIVATION(tree):
        return _DERIVED
    for value in _WATCHED_ATTRIBUTES(tree):
        name = value.attrname  # "URI", or "{namespace}URI"
        if name == "URI":
            if not _SAME_DOCUMENT_ID.fullmatch(value):
                return _OUTSIDE
        elif name == "Algorithm":
            if value.getparent().tag in _TRANSFORMS and value not in SAFE_TRANSFORMS:
                return _TRANSFORM
        else:
            return _OUTSIDE  # in a namespace: xmlsec would read it all the same
    return None


def signature_problem(signature: Any) -> Problem | None:
    """Why this ds:Signature must not reach xmlsec, or None. It must have one Reference
    (none in a Manifest either), to the element it sits in."""
    parent = signature.getparent()
    signed_id = parent.get("ID") if parent is not None else None
    references = list(signature.iter(f"{{{_DS}}}Reference"))
    if (
        len(references) != 1
        or not signed_id
        or references[0].get("URI") != f"#{signed_id}"
        or references[0].getparent().tag != f"{{{_DS}}}SignedInfo"
    ):
        return _WRAPPED
    return outside_reference(signature)


def document_problem(root: Any) -> Problem | None:
    """signature_problem for every signature in a message, outside_reference for every
    encrypted element."""
    for signature in root.iter(f"{{{_DS}}}Signature"):
        if problem := signature_problem(signature):
            return problem
    for encrypted in _each(root, f"{{{_XENC}}}EncryptedData", f"{{{_XENC}}}EncryptedKey"):
        if problem := outside_reference(encrypted):
            return problem
    return None

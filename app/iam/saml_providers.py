"""SAML providers of one account: CreateSAMLProvider and friends.

The metadata document is the provider: it is parsed (and refused) on the way
in and parsed again, from the stored text, whenever it is used, so what is
validated and what is trusted are always the same document.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.arn import Arn
from app.db.config_cache import cached
from app.db.models import SamlProvider
from app.errors import EntityAlreadyExistsError
from app.errors import InvalidInputError
from app.errors import LimitExceededError
from app.errors import NoSuchEntityError
from app.iam import names
from app.iam.service import IamService
from app.saml.metadata import IdpMetadata
from app.saml.metadata import parse_idp_metadata

OWNER_KIND = "saml-provider"
MAX_PER_ACCOUNT = 100
NAME_PATTERN = r"[\w._-]+"
#: Tags that change how sign-in works for this provider.
SSO_MODE_TAG = "fedbridge:sso-mode"
USER_ATTRIBUTE_TAG = "fedbridge:user-attribute"


class SamlProviders:
    def __init__(self, iam: IamService) -> None:
        self.iam = iam
        self.session: Session = iam.session

    def arn(self, provider: SamlProvider) -> str:
        return f"arn:{self.iam.partition}:iam::{provider.account_id}:saml-provider/{provider.name}"

    def create(
        self, name: str, document: str, tags: Sequence[tuple[str, str]] = ()
    ) -> SamlProvider:
        names.check_length("name", name, 1, 128)
        names.check_pattern("name", name, NAME_PATTERN)
        metadata = parse_idp_metadata(document, self.iam.clock.now())
        if self._find(name) is not None:
            raise EntityAlreadyExistsError(f"SAMLProvider {name} already exists.")
        count = self.session.scalars(
            select(SamlProvider.pk).where(SamlProvider.account_id == self.iam.account_id)
        ).all()
        if len(count) >= MAX_PER_ACCOUNT:
            raise LimitExceededError(
                f"Cannot exceed quota for SAMLProvidersPerAccount: {MAX_PER_ACCOUNT}."
            )
        now = self.iam.clock.now()
        provider = SamlProvider(
            account_id=self.iam.account_id,
            name=name,
            name_key=name.lower(),
            entity_id=metadata.entity_id,
            metadata_document=document,
            valid_until=metadata.valid_until,
            created_at=now,
            updated_at=now,
        )
        self.session.add(provider)
        self.session.flush()
        if tags:
            self.iam.tag(OWNER_KIND, provider.pk, tags)
        return provider

    def update(self, provider_arn: str, document: str) -> SamlProvider:
        provider = self.get(provider_arn)
        # Replacing the document replaces every key at once (certificate rollover).
        metadata = parse_idp_metadata(document, self.iam.clock.now())
        provider.metadata_document = document
        provider.entity_id = metadata.entity_id
        provider.valid_until = metadata.valid_until
        provider.updated_at = self.iam.clock.now()
        return provider

    def delete(self, provider_arn: str) -> None:
        provider = self.get(provider_arn)
        self.iam.untag_all(OWNER_KIND, provider.pk)
        self.session.execute(delete(SamlProvider).where(SamlProvider.pk == provider.pk))

    def list(self) -> list[SamlProvider]:
        return list(
            self.session.scalars(
                select(SamlProvider)
                .where(SamlProvider.account_id == self.iam.account_id)
                .order_by(SamlProvider.name_key)
            )
        )

    def get(self, provider_arn: str) -> SamlProvider:
        name = self.name_from_arn(provider_arn)
        provider = self._find(name) if name else None
        if provider is None or self.arn(provider) != provider_arn:
            raise NoSuchEntityError(
                f"SAMLProvider {names._shown(provider_arn)} does not exist.",
                reason="saml.unknown_provider",
            )
        return provider

    def name_from_arn(self, provider_arn: str) -> str | None:
        names.check_length("sAMLProviderArn", provider_arn, 20, 2048)
        arn = Arn.parse(provider_arn)
        if arn is None or arn.service != "iam" or not arn.resource.startswith("saml-provider/"):
            raise InvalidInputError(f"ARN {names._shown(provider_arn)} is not valid.")
        if arn.account != self.iam.account_id:
            return None
        return arn.resource.removeprefix("saml-provider/")

    def _find(self, name: str) -> SamlProvider | None:
        return cached(
            self.session,
            (SamlProvider, self.iam.account_id, name.lower()),
            lambda: self.session.scalar(
                select(SamlProvider).where(
                    SamlProvider.account_id == self.iam.account_id,
                    SamlProvider.name_key == name.lower(),
                )
            ),
        )

    def metadata(self, provider: SamlProvider) -> IdpMetadata:
        # Stored documents were valid when stored; only validUntil can have lapsed since.
        return parse_idp_metadata(provider.metadata_document, self.iam.clock.now())

    def tags(self, provider: SamlProvider) -> dict[str, str]:
        return dict(self.iam.tags_of(OWNER_KIND, provider.pk))


def providers_for_issuer(session: Session, entity_id: str) -> list[SamlProvider]:
    """Every account's providers for this IdP entity id (the browser ACS does not know
    the account before it reads the assertion)."""
    return list(
        session.scalars(
            select(SamlProvider)
            .where(SamlProvider.entity_id == entity_id)
            .order_by(SamlProvider.account_id, SamlProvider.name_key)
        )
    )

"""OpenID Connect providers of one account: CreateOpenIDConnectProvider and friends.

A provider is its issuer URL (exactly as tokens name it in `iss`), the client
ids its tokens may be addressed to, and optional TLS thumbprints. Its ARN and
condition-key prefix are the URL without its scheme, as in AWS.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.arn import Arn
from app.db.config_cache import cached
from app.db.models import OidcProvider
from app.errors import EntityAlreadyExistsError
from app.errors import InvalidInputError
from app.errors import LimitExceededError
from app.errors import NoSuchEntityError
from app.iam import names
from app.iam.service import IamService
from app.oidc.urls import check_issuer_url
from app.oidc.urls import split_url
from app.oidc.urls import url_key

OWNER_KIND = "oidc-provider"
MAX_PER_ACCOUNT = 100
MAX_CLIENT_IDS = 100
MAX_THUMBPRINTS = 5
THUMBPRINT_PATTERN = r"[0-9a-fA-F]{40}"


def check_url(url: str) -> str:
    """Validate a provider Url as AWS does; return its key (the URL without scheme)."""
    names.check_length("url", url, 1, 255)
    return check_issuer_url(url)


def _client_ids(field: str, client_ids: Sequence[str]) -> list[str]:
    for client_id in client_ids:
        names.check_length(field, client_id, 1, 255)
    unique = list(dict.fromkeys(client_ids))  # AWS keeps one of each, in order
    if len(unique) > MAX_CLIENT_IDS:
        raise LimitExceededError(
            f"Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}."
        )
    return unique


def _thumbprints(thumbprints: Sequence[str]) -> list[str]:
    for thumbprint in thumbprints:
        names.check_length("thumbprintList.member", thumbprint, 40, 40)
        names.check_pattern("thumbprintList.member", thumbprint, THUMBPRINT_PATTERN)
    unique = list(dict.fromkeys(t.lower() for t in thumbprints))
    if len(unique) > MAX_THUMBPRINTS:
        raise LimitExceededError(
            f"Cannot exceed quota for ThumbprintsPerOpenIdConnectProvider: {MAX_THUMBPRINTS}."
        )
    return unique


class OidcProviders:
    def __init__(self, iam: IamService) -> None:
        self.iam = iam
        self.session: Session = iam.session

    def arn(self, provider: OidcProvider) -> str:
        return self.arn_for(provider.url_key)

    def arn_for(self, key: str) -> str:
        return f"arn:{self.iam.partition}:iam::{self.iam.account_id}:oidc-provider/{key}"

    def create(
        self,
        url: str,
        client_ids: Sequence[str] = (),
        thumbprints: Sequence[str] = (),
        tags: Sequence[tuple[str, str]] = (),
    ) -> OidcProvider:
        key = check_url(url)
        clients = _client_ids("clientIDList.member", client_ids)
        pins = _thumbprints(thumbprints)
        if self._find(key) is not None:
            raise EntityAlreadyExistsError(f"Provider with url {url} already exists.")
        count = self.session.scalar(
            select(func.count())
            .select_from(OidcProvider)
            .where(OidcProvider.account_id == self.iam.account_id)
        )
        if (count or 0) >= MAX_PER_ACCOUNT:
            raise LimitExceededError(
                f"Cannot exceed quota for OpenIdConnectProvidersPerAccount: {MAX_PER_ACCOUNT}."
            )
        provider = OidcProvider(
            account_id=self.iam.account_id,
            issuer=url,
            url_key=key,
            client_ids=clients,
            thumbprints=pins,
            created_at=self.iam.clock.now(),
        )
        self.session.add(provider)
        self.session.flush()
        if tags:
            self.iam.tag(OWNER_KIND, provider.pk, tags)
        return provider

    def get(self, provider_arn: str) -> OidcProvider:
        key = self.key_from_arn(provider_arn)
        provider = self._find(key) if key else None
        # Exactly its ARN: the caller's policies were checked against the text sent, so
        # another spelling of it (a region, other letter case) must not find it.
        if provider is None or self.arn(provider) != provider_arn:
            raise NoSuchEntityError(
                f"OpenIDConnect Provider not found for arn {names._shown(provider_arn)}",
                reason="oidc.unknown_provider",
            )
        return provider

    def list(self) -> list[OidcProvider]:
        return list(
            self.session.scalars(
                select(OidcProvider)
                .where(OidcProvider.account_id == self.iam.account_id)
                .order_by(OidcProvider.url_key)
            )
        )

    def add_client_id(self, provider_arn: str, client_id: str) -> None:
        provider = self.get(provider_arn)
        # Idempotent, as in AWS: adding a client id that is there changes nothing.
        provider.client_ids = _client_ids("clientID", [*provider.client_ids, client_id])

    def remove_client_id(self, provider_arn: str, client_id: str) -> None:
        names.check_length("clientID", client_id, 1, 255)
        provider = self.get(provider_arn)
        provider.client_ids = [c for c in provider.client_ids if c != client_id]

    def update_thumbprints(self, provider_arn: str, thumbprints: Sequence[str]) -> None:
        pins = _thumbprints(thumbprints)
        self.get(provider_arn).thumbprints = pins

    def delete(self, provider_arn: str) -> None:
        provider = self.get(provider_arn)
        self.iam.untag_all(OWNER_KIND, provider.pk)
        self.session.execute(delete(OidcProvider).where(OidcProvider.pk == provider.pk))

    def set_browser_client(self, provider_arn: str, client_id: str, sealed_secret: str) -> bool:
        """The client browser sign-in uses; True when its id is in the ClientIDList."""
        names.check_length("clientId", client_id, 1, 255)
        provider = self.get(provider_arn)
        provider.browser_client_id = client_id
        provider.browser_client_secret_sealed = sealed_secret
        return client_id in provider.client_ids

    def tags(self, provider: OidcProvider) -> Sequence[tuple[str, str]]:
        return self.iam.tags_of(OWNER_KIND, provider.pk)

    def find_by_issuer(self, issuer: str) -> OidcProvider | None:
        """The provider a token's `iss` names: same URL, scheme included, exactly."""
        if len(issuer) > 255 or split_url(issuer) is None:
            return None  # could never have been registered; not worth a query
        provider = self._find(url_key(issuer))
        return provider if provider is not None and provider.issuer == issuer else None

    def key_from_arn(self, provider_arn: str) -> str | None:
        """The URL key an ARN names in this account; None for another account's ARN."""
        names.check_length("openIDConnectProviderArn", provider_arn, 20, 2048)
        arn = Arn.parse(provider_arn)
        if (
            arn is None
            or not provider_arn.isprintable()
            or arn.service != "iam"
            or not arn.resource.startswith("oidc-provider/")
            or arn.resource == "oidc-provider/"
        ):
            raise InvalidInputError(f"ARN {names._shown(provider_arn)} is not valid.")
        if arn.account != self.iam.account_id or arn.partition != self.iam.partition:
            return None
        return arn.resource.removeprefix("oidc-provider/")

    def _find(self, key: str) -> OidcProvider | None:
        return cached(
            self.session,
            (OidcProvider, self.iam.account_id, key),
            lambda: self.session.scalar(
                select(OidcProvider).where(
                    OidcProvider.account_id == self.iam.account_id, OidcProvider.url_key == key
                )
            ),
        )

"""OpenID Connect federation: issuer keys, token validation, AssumeRoleWithWebIdentity.

`urls` holds the issuer URL rules, `jwks` fetches and caches an issuer's keys,
`tokens` validates a token against a registered provider (shared by the API
and the browser sign-in), and `web_identity` turns a validated token into a
role session.
"""

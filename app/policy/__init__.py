"""IAM policy documents and their evaluation, with AWS semantics.

Pure: no database, no web framework. The callers (app.iam.authz for identity
policies, app.sts for trust policies) build a RequestContext once per decision
and ask for a Decision.
"""

from app.policy.context import RequestContext
from app.policy.document import Condition
from app.policy.document import PolicyDocument
from app.policy.document import Statement
from app.policy.document import parse_policy
from app.policy.evaluate import Decision
from app.policy.evaluate import evaluate
from app.policy.evaluate import evaluate_trust

__all__ = [
    "Condition",
    "Decision",
    "PolicyDocument",
    "RequestContext",
    "Statement",
    "evaluate",
    "evaluate_trust",
    "parse_policy",
]

"""Reading Argo CD and Argo Workflows directly: clients, outcomes, diagnosis, reconciliation.

Nothing here imports Slack: the reconciler hands plain webhook events to callbacks, and the
diagnosis is mrkdwn text for the caller to post.
"""

from bot.argo.client import ArgoCD, ArgoWorkflows
from bot.argo.models import AppState, ArgoUnavailable, KubeEvent, ResourceNode, Workflow

__all__ = ["AppState", "ArgoCD", "ArgoUnavailable", "ArgoWorkflows", "KubeEvent", "ResourceNode", "Workflow"]

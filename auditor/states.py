"""Resource lifecycle states: which of the states AWS reports mean live, waiting or gone.

One place for every state set the rules, the path engine and the report share. States are spelt
as the EC2 API returns them; sets compared with `state.lower()` say so.
"""

from __future__ import annotations

# --- VPC endpoints (compared lower-cased: the API says pendingAcceptance, Available) ---

# On their way out.
ENDPOINT_GONE = frozenset({"deleting", "deleted"})
# Carry no traffic and never will: gone, failed, or refused by the service provider.
ENDPOINT_DEAD = ENDPOINT_GONE | {"failed", "rejected", "expired"}
# As a route target: carries traffic, or will once created ("pending" is transient, and a
# snapshot taken mid-deployment is not a broken route).
ENDPOINT_LIVE = frozenset({"available", "pending"})

# --- NAT gateways ---

NAT_LIVE = frozenset({"available", "pending"})

# --- Transit gateways and their attachments ---

TGW_LIVE = frozenset({"available", "pending", "modifying"})

ATTACHMENT_PENDING_ACCEPTANCE = "pendingAcceptance"
# Attachments that carry traffic.
ATTACHMENT_LIVE = frozenset({"available", "modifying"})
# Attachments that never will again: a route to one drops traffic.
ATTACHMENT_GONE = frozenset({"deleted", "deleting", "failed", "rejected"})
# Attachments no longer a VPC's link to its hub (a failed one still is: the path engine follows
# traffic to it and reports it failed).
ATTACHMENT_REMOVED = frozenset({"deleted", "deleting", "rejected"})
# Waiting to become live: requested, or waiting for the owner to accept.
ATTACHMENT_WAITING = frozenset({"initiating", "initiatingRequest", "pending", "pendingAcceptance"})
# Gone, or on the way there.
ATTACHMENT_LEAVING = ATTACHMENT_GONE | {"failing", "rejecting"}

# --- Peering connections ---

PEERING_ACTIVE = "active"
PEERING_PENDING_ACCEPTANCE = "pending-acceptance"
# Not carrying traffic yet, but will once the request goes through.
PEERING_COMING = frozenset({"initiating-request", PEERING_PENDING_ACCEPTANCE, "provisioning"})
PEERING_LIVE_OR_COMING = PEERING_COMING | {PEERING_ACTIVE}
# The request reached the accepter: waiting for acceptance, being set up, or active.
PEERING_OFFERED_OR_ACTIVE = frozenset({PEERING_PENDING_ACCEPTANCE, "provisioning", PEERING_ACTIVE})
# Will never carry traffic again (AWS keeps them listed for a while).
PEERING_INACTIVE = frozenset({"rejected", "failed", "expired", "deleting", "deleted"})

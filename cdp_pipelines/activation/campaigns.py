"""Campaigns: who gets what, split into treatments and a control group by a stable hash.

``activation/campaigns.yaml``::

    campaigns:
      - name: winback_q4
        include: lapsed_vips                 # a segment
        exclude: [employees]                 # segments whose members are left out
        sub_audiences:                       # first match wins; everyone else is "default"
          - {name: west, segment: west_coast}
          - {name: big_spenders, condition: {attribute: lifetime_revenue, operator: ">", value: 1000}}
        treatments:
          - {name: email_offer, percent: 45, destination: email_tool}
          - {name: paid_social, percent: 45, destination: ads}
        control: {percent: 10}
        attributes:                          # columns of merged_customers sent per destination
          email_tool: [given_name, email]
        schedule: recurring                  # or one_time
        launch_date: 2026-12-01

Everyone's group comes from ``bucket = sha256("<campaign>:<amperity_id>")`` (first four
bytes, big-endian, modulo 10,000). Control takes buckets ``[0, control%)``, then each
treatment the next ``percent`` share, in the order listed. A customer therefore keeps their
group on every run, whatever the row order and whoever else is in the audience.
"""

from __future__ import annotations

import hashlib

from cdp_pipelines.tenant.audiences import BUCKETS, CampaignSpec


def bucket(campaign: str, amperity_id: str) -> int:
    """The customer's bucket 0..9999 in ``campaign``; the same formula as :func:`bucket_sql`."""
    digest = hashlib.sha256(f"{campaign}:{amperity_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % BUCKETS


def bucket_sql(campaign_param: str, id_column: str) -> str:
    """Trino expression of :func:`bucket`; ``campaign_param`` is a bound parameter (``?``)."""
    # Four bytes padded to eight: from_big_endian_64 then never sees a sign bit.
    return (f"from_big_endian_64(X'00000000' || substr(sha256(to_utf8("
            f"{campaign_param} || ':' || CAST({id_column} AS varchar))), 1, 4)) % {BUCKETS}")


def assign(campaign: CampaignSpec, amperity_id: str) -> str:
    """The group (treatment name or ``control``) of one customer."""
    b = bucket(campaign.name, amperity_id)
    return next(group for group, edge in campaign.plan() if b < edge)

"""Data templates: how an audience's columns become the fields a destination expects.

A tenant file (``activation/templates.yaml`` by convention) lists templates::

    templates:
      - name: email_vendor
        fields:                 # destination field -> source column
          Email Address: email
          First Name: given_name
        static:                 # destination field -> constant
          List: spring_promo
        required: [Email Address]

Rows whose required fields are empty are not sent: :func:`apply_template` returns them
as rejects, each with the reason, so nothing is silently dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from cdp_pipelines.tenant.delivery import TemplateSpec

if TYPE_CHECKING:
    import pandas as pd

REJECT_REASON = "_reject_reason"
SOURCE_ROW = "_source_row"


class TemplateError(ValueError):
    """A template does not fit the rows given to it; the message names template and column."""


class TemplatedRows(NamedTuple):
    """What a template made of a frame: rows to send, and rows held back with a reason."""

    rows: "pd.DataFrame"
    rejects: "pd.DataFrame"


def _empty(series: "pd.Series") -> "pd.Series":
    text = series.astype("string").str.strip()
    return series.isna() | text.eq("").fillna(True)


def apply_template(frame: "pd.DataFrame", template: TemplateSpec) -> TemplatedRows:
    """Map ``frame`` to the template's fields; rows missing a required field become rejects.

    ``rejects`` has the template's fields plus ``_source_row`` (the row's index label in
    ``frame``) and ``_reject_reason``.
    """
    import numpy as np
    import pandas as pd

    missing = [column for column in template.fields.values() if column not in frame.columns]
    if missing:
        raise TemplateError(
            f"template {template.name}: source column(s) {missing} are not in the rows "
            f"(available: {list(frame.columns)}); fix the template's 'fields' or select "
            "those columns in the audience"
        )
    # Positional from here on: the caller's index may repeat labels.
    mapped = pd.DataFrame(
        {target: frame[source].to_numpy() for target, source in template.fields.items()}
    )
    for target, value in template.static.items():
        mapped[target] = value
    mapped = mapped[template.output_columns]

    reasons = [[] for _ in range(len(mapped))]
    for field in template.required:
        for position in _empty(mapped[field]).to_numpy().nonzero()[0]:
            reasons[position].append(f"required field {field!r} is empty")
    failed = np.array([bool(reason) for reason in reasons], dtype=bool)
    rejects = mapped.loc[failed].reset_index(drop=True)
    rejects.insert(0, SOURCE_ROW, frame.index[failed])
    rejects[REJECT_REASON] = ["; ".join(reason) for reason in reasons if reason]
    return TemplatedRows(mapped.loc[~failed].reset_index(drop=True), rejects)

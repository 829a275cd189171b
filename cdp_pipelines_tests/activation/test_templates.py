"""Data templates: field mapping, constants, required fields, and their config errors."""

from __future__ import annotations

import pandas as pd
import pytest

from cdp_pipelines.activation.templates import (
    REJECT_REASON,
    SOURCE_ROW,
    TemplateError,
    apply_template,
)
from cdp_pipelines.tenant import ConfigError
from cdp_pipelines.tenant.delivery import TemplateSpec
from cdp_pipelines.tenant.loader import load_templates


def test_fields_are_mapped_and_renamed_in_template_order_with_constants(audience, template):
    rows, rejects = apply_template(audience, template)

    assert list(rows.columns) == ["customer_id", "Email", "First Name", "ltv", "list"]
    assert rows["customer_id"].tolist() == ["a1", "a2", "a4", "a5", "a6"]
    assert rows.loc[2].to_dict() == {
        "customer_id": "a4", "Email": "dee@example.com", "First Name": "Dée", "ltv": 0.0,
        "list": "spring",
    }
    assert len(rejects) == 1


def test_rows_failing_required_fields_are_rejected_with_the_reason():
    frame = pd.DataFrame(
        {"id": [1, 2, 3, 4], "email": ["x@y.z", "  ", None, "w@v.u"], "phone": ["1", None, "", "2"]}
    )
    template = TemplateSpec(
        name="sms", fields={"ID": "id", "Email": "email", "Phone": "phone"},
        required=["Email", "Phone"],
    )
    rows, rejects = apply_template(frame, template)

    assert rows["ID"].tolist() == [1, 4]
    assert rejects[SOURCE_ROW].tolist() == [1, 2]
    assert rejects[REJECT_REASON].tolist() == [
        "required field 'Email' is empty; required field 'Phone' is empty",
        "required field 'Email' is empty; required field 'Phone' is empty",
    ]
    # Zero is a value, not an empty field.
    zero = apply_template(pd.DataFrame({"id": [0], "email": ["a@b.c"], "phone": ["0"]}), template)
    assert len(zero.rows) == 1 and zero.rejects.empty


def test_repeated_index_labels_and_empty_frames(template):
    frame = pd.DataFrame(
        {"amperity_id": ["x", "y", "z"], "email": [None, "y@e.com", "z@e.com"],
         "given_name": ["X", "Y", "Z"], "lifetime_revenue": [1.0, 2.0, 3.0]},
        index=[5, 5, 6],
    )
    rows, rejects = apply_template(frame, template)
    assert rows["customer_id"].tolist() == ["y", "z"]
    assert rejects[[SOURCE_ROW, "customer_id"]].values.tolist() == [[5, "x"]]

    rows, rejects = apply_template(frame.iloc[:0], template)
    assert rows.empty and list(rows.columns) == template.output_columns
    assert rejects.empty


def test_a_missing_source_column_names_the_template_and_the_column(audience):
    template = TemplateSpec(name="crm", fields={"Email": "email", "Loyalty": "loyalty_id"})
    with pytest.raises(TemplateError) as error:
        apply_template(audience, template)
    message = str(error.value)
    assert "template crm" in message and "['loyalty_id']" in message
    assert "amperity_id" in message  # the columns that are available


def test_load_templates_reads_the_file(tmp_path):
    (tmp_path / "activation").mkdir()
    file = tmp_path / "activation" / "templates.yaml"
    file.write_text(
        "templates:\n"
        "  - name: email_vendor\n"
        "    fields: {Email Address: email, First: given_name}\n"
        "    static: {Brand: \"${BRAND:-acme}\"}\n"
        "    required: [Email Address]\n"
    )
    loaded = load_templates(tmp_path, {"BRAND": "globex"})
    assert loaded["email_vendor"].fields == {"Email Address": "email", "First": "given_name"}
    assert loaded["email_vendor"].static == {"Brand": "globex"}
    assert loaded["email_vendor"].output_columns == ["Email Address", "First", "Brand"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("  - name: t\n    fields: {A: a}\n    required: [B]\n",
         "templates[0]: Value error, template t: required ['B'] are not destination fields"),
        ("  - name: t\n    fields: {A: a}\n    static: {A: 1}\n",
         "template t: ['A'] are in both 'fields' and 'static'"),
        ("  - name: t\n    fields: {}\n", "templates[0].fields: "),
        ("  - name: t\n    fields: {A: a}\n    colour: red\n", "templates[0].colour: Extra inputs"),
        ("  - name: t\n    fields: {A: a}\n  - name: t\n    fields: {B: b}\n",
         "templates[1].name: 't' is already used by templates[0]"),
    ],
)
def test_template_config_errors_name_file_and_field(tmp_path, body, expected):
    (tmp_path / "activation").mkdir()
    (tmp_path / "activation" / "templates.yaml").write_text("templates:\n" + body)
    with pytest.raises(ConfigError) as error:
        load_templates(tmp_path, {})
    assert str(error.value).startswith("activation/templates.yaml: ")
    assert expected in str(error.value)

"""The model artifact: versioned, hash-checked, fit to columns."""

import json

import pytest

from cdp_pipelines.stitch import matching


def test_model_artifact_roundtrip(tmp_path):
    settings = matching.build_settings(["source", "pk", "email_norm", "surname_norm"])
    path = tmp_path / "models" / "stitch.json"
    version = matching.save_model(settings, path)
    model = matching.load_model(path)
    assert model.settings == settings
    assert model.version == version and version.startswith(model.content_hash[:12])
    assert matching.model_fits_columns(model.settings, ["email_norm", "surname_norm"])
    assert not matching.model_fits_columns(model.settings, ["email_norm"])

    payload = json.loads(path.read_text())
    payload["settings"]["probability_two_random_records_match"] = 0.5
    path.write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="content hash"):
        matching.load_model(path)
    with pytest.raises(FileNotFoundError, match="train first"):
        matching.load_model(tmp_path / "missing.json")

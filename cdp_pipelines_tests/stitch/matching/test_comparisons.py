"""The location comparison: street, postal code, city and state as one."""

from cdp_pipelines.stitch import matching
from cdp_pipelines_tests.stitch.matching.helpers import pairs, with_fixed_parameters


def test_location_counts_once(spark):
    """Street, postal code, city and state are one comparison: two namesakes of one town
    with different streets and surnames are not a match, while the same person at the
    same address is, and the explanation names the location once."""
    cols = ("source string, pk string, given_name_norm string, surname_norm string, "
            "address_norm string, postal_norm string, city_norm string, state_norm string")
    rows = [
        ("crm", "1", "wayne", "nguyen", "91 UNION PL", "15213", "PITTSBURGH", "PA"),
        ("pos", "1", "wayne", "coleman", "9589 FOREST LN", "15213", "PITTSBURGH", "PA"),
        ("crm", "2", "janet", "harris", "87 WOODLAND RD", "15217", "PITTSBURGH", "PA"),
        ("pos", "2", "janet", "harris", "87 WOODLAND RD", "15217", "PITTSBURGH", "PA"),
    ]
    df = spark.createDataFrame(rows, cols)
    settings = with_fixed_parameters(matching.build_settings(df.columns))
    location = [c for c in settings["comparisons"]
                if {"postal_norm", "city_norm", "state_norm"} & set(matching.comparison_inputs(c))]
    assert [c["output_column_name"] for c in location] == ["location"]
    edges = pairs(matching.predict_run(settings, df, spark, threshold=0.5).edges)
    assert set(edges) == {("crm:2", "pos:2")}
    assert set(edges[("crm:2", "pos:2")].explanation) == {
        "given_name_norm", "surname_norm", "location"}
